/* metrics.c: Prometheus text exposition served by libmicrohttpd (see metrics.h). */
#include "agent/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <sodium.h>

#include "conf/conf.h"
#include "pki/log.h"

#include "agent/keypolicy.h"
#include "pki/text.h"

/* Rotation duration buckets (seconds): a local CA takes milliseconds, aws-pca seconds, a
 * throttled aws-pca minutes. */
static const double duration_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
#define N_BUCKETS (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

#define MAX_CODES 64

/* The strings are owned and sized to their content (a host may manage thousands of
 * certificates); serial, issuer and subject are NULL until a certificate is in place. */
struct metrics_cert {
    char *name;
    char ca[16];
    int have_status;
    int ready;
    time_t not_before;
    time_t not_after;
    time_t next_renewal;
    time_t renewal_planned;
    time_t renewal_overdue;
    time_t expiring;
    time_t last_success;
    time_t last_attempt;
    unsigned long consecutive_failures;
    char *serial;
    char *issuer;
    char *subject;
    unsigned long rotations_success;
    unsigned long rotations_failure;
    unsigned long hook_failures;
    unsigned long issued;
    unsigned long corrupt;
    unsigned long refusals[AGENT_KEYPOLICY__MAX]; /* by agent_keypolicy_reason */
    unsigned long buckets[N_BUCKETS]; /* non-cumulative; summed when rendered */
    double duration_sum;
    unsigned long duration_count;
};

struct code_count {
    char code[64];
    unsigned long count;
};

struct agent_metrics {
    pthread_mutex_t lock;
    char version[64];
    char ca_kind[16];
    char creds_source[32]; /* aws-pca: the source of its AWS credentials, or "" */
    time_t creds_expiry;
    struct metrics_cert *certs;
    size_t n_certs;
    unsigned long wakeups;
    struct code_count base[MAX_CODES]; /* from retired CAs */
    size_t n_base;
    struct code_count cur[MAX_CODES]; /* the live CA's latest snapshot */
    size_t n_cur;
    struct MHD_Daemon *daemon;
    unsigned port;
    struct metrics_guard *guard; /* the running daemon's connection list and sweeper, or NULL */
};

struct agent_metrics *agent_metrics_new(const char *version, struct mk_err *err)
{
    struct agent_metrics *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "metrics: out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->version, sizeof(m->version), "%s", version);
    return m;
}

static void cert_strings_free(struct metrics_cert *c)
{
    free(c->name);
    free(c->serial);
    free(c->issuer);
    free(c->subject);
    c->name = c->serial = c->issuer = c->subject = NULL;
}

void agent_metrics_free(struct agent_metrics *m)
{
    if (m == NULL) {
        return;
    }
    agent_metrics_stop(m);
    pthread_mutex_destroy(&m->lock);
    for (size_t i = 0; i < m->n_certs; i++) {
        cert_strings_free(&m->certs[i]);
    }
    free(m->certs);
    free(m);
}

/* *slot becomes a copy of value (NULL for ""), unless it already says that.  Out of memory
 * leaves it NULL: the label is exported empty, as an over-long value always was. */
static void set_str(char **slot, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        free(*slot);
        *slot = NULL;
        return;
    }
    if (*slot != NULL && strcmp(*slot, value) == 0) {
        return;
    }
    free(*slot);
    *slot = strdup(value);
}

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* Caller holds the lock. */
static struct metrics_cert *find_cert(struct agent_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n_certs; i++) {
        if (m->certs[i].name != NULL && strcmp(m->certs[i].name, name) == 0) {
            return &m->certs[i];
        }
    }
    return NULL;
}

int agent_metrics_set_names(struct agent_metrics *m, const char *const *names, size_t n,
                            struct mk_err *err)
{
    struct metrics_cert *certs = calloc(n == 0 ? 1 : n, sizeof(*certs));

    if (certs == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "metrics: out of memory");
        return -1;
    }
    /* Every name is copied first, so running out of memory leaves the old slots untouched. */
    for (size_t i = 0; i < n; i++) {
        certs[i].name = strdup(names[i]);
        if (certs[i].name == NULL) {
            for (size_t j = 0; j < i; j++) {
                free(certs[j].name);
            }
            free(certs);
            mk_err_set(err, MK_ERR_NOMEM, "metrics: out of memory");
            return -1;
        }
    }
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        struct metrics_cert *old = find_cert(m, names[i]);
        if (old != NULL) {
            /* The slot moves (counters and strings); the old name is freed below. */
            char *name = certs[i].name;
            certs[i] = *old;
            certs[i].name = name;
            old->serial = old->issuer = old->subject = NULL;
        }
    }
    for (size_t i = 0; i < m->n_certs; i++) {
        cert_strings_free(&m->certs[i]);
    }
    free(m->certs);
    m->certs = certs;
    m->n_certs = n;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void agent_metrics_cert_update(struct agent_metrics *m, const struct agent_status *st)
{
    struct metrics_cert *c;

    pthread_mutex_lock(&m->lock);
    c = find_cert(m, st->name);
    if (c != NULL) {
        c->have_status = 1;
        c->ready = st->ready;
        snprintf(c->ca, sizeof(c->ca), "%s", st->ca);
        c->not_before = st->not_before;
        c->not_after = st->not_after;
        c->next_renewal = st->next_renewal;
        c->renewal_planned = st->renewal_planned;
        c->renewal_overdue = st->renewal_overdue;
        c->expiring = st->expiring;
        c->last_success = st->last_success;
        c->last_attempt = st->last_attempt;
        c->consecutive_failures = st->consecutive_failures;
        set_str(&c->serial, st->serial);
        set_str(&c->issuer, st->issuer);
        set_str(&c->subject, st->subject);
        snprintf(m->ca_kind, sizeof(m->ca_kind), "%s", st->ca);
    }
    pthread_mutex_unlock(&m->lock);
}

void agent_metrics_rotation(struct agent_metrics *m, const char *name, int success, double seconds)
{
    struct metrics_cert *c;

    pthread_mutex_lock(&m->lock);
    c = find_cert(m, name);
    if (c != NULL) {
        if (success) {
            c->rotations_success++;
        } else {
            c->rotations_failure++;
        }
        if (seconds < 0) {
            seconds = 0;
        }
        for (size_t i = 0; i < N_BUCKETS; i++) {
            if (seconds <= duration_buckets[i]) {
                c->buckets[i]++;
                break;
            }
        }
        c->duration_sum += seconds;
        c->duration_count++;
    }
    pthread_mutex_unlock(&m->lock);
}

static void bump(struct agent_metrics *m, const char *name, size_t offset)
{
    struct metrics_cert *c;

    pthread_mutex_lock(&m->lock);
    c = find_cert(m, name);
    if (c != NULL) {
        (*(unsigned long *)((char *)c + offset))++;
    }
    pthread_mutex_unlock(&m->lock);
}

void agent_metrics_hook_failure(struct agent_metrics *m, const char *name)
{
    bump(m, name, offsetof(struct metrics_cert, hook_failures));
}

void agent_metrics_issued(struct agent_metrics *m, const char *name)
{
    bump(m, name, offsetof(struct metrics_cert, issued));
}

void agent_metrics_corrupt(struct agent_metrics *m, const char *name)
{
    bump(m, name, offsetof(struct metrics_cert, corrupt));
}

void agent_metrics_refusal(struct agent_metrics *m, const char *name, const char *reason)
{
    struct metrics_cert *c;
    int r = 0;

    while (r < AGENT_KEYPOLICY__MAX && strcmp(agent_keypolicy_reason_name(r), reason) != 0) {
        r++;
    }
    if (r == AGENT_KEYPOLICY__MAX) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    c = find_cert(m, name);
    if (c != NULL) {
        c->refusals[r]++;
    }
    pthread_mutex_unlock(&m->lock);
}

void agent_metrics_wakeup(struct agent_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->wakeups++;
    pthread_mutex_unlock(&m->lock);
}

unsigned long agent_metrics_wakeups(struct agent_metrics *m)
{
    unsigned long v;

    pthread_mutex_lock(&m->lock);
    v = m->wakeups;
    pthread_mutex_unlock(&m->lock);
    return v;
}

static void add_code(struct code_count *arr, size_t *n, const char *code, unsigned long count)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(arr[i].code, code) == 0) {
            arr[i].count += count;
            return;
        }
    }
    if (*n < MAX_CODES) {
        snprintf(arr[*n].code, sizeof(arr[*n].code), "%s", code);
        arr[*n].count = count;
        (*n)++;
    }
}

static void collect_code(const char *code, unsigned long count, void *arg)
{
    struct agent_metrics *m = arg;

    add_code(m->cur, &m->n_cur, code, count);
}

void agent_metrics_ca_counts(struct agent_metrics *m, const struct pki_ca *ca)
{
    pthread_mutex_lock(&m->lock);
    m->n_cur = 0;
    snprintf(m->ca_kind, sizeof(m->ca_kind), "%s", pki_ca_kind(ca));
    pki_ca_foreach_request_count(ca, collect_code, m);
    if (pki_ca_aws_credentials(ca, m->creds_source, sizeof(m->creds_source), &m->creds_expiry) !=
        0) {
        m->creds_source[0] = '\0';
    }
    pthread_mutex_unlock(&m->lock);
}

void agent_metrics_ca_retire(struct agent_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_cur; i++) {
        add_code(m->base, &m->n_base, m->cur[i].code, m->cur[i].count);
    }
    m->n_cur = 0;
    pthread_mutex_unlock(&m->lock);
}

/* Escapes into a fixed buffer; a value that does not fit (never for our bounded fields) is
 * exported empty rather than truncated mid-escape. */
static const char *esc(const char *value, char *buf, size_t size)
{
    if (mk_prom_label_escape(value, buf, size) != 0) {
        buf[0] = '\0';
    }
    return buf;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int cert_ready(const struct metrics_cert *c, time_t now)
{
    return c->have_status && c->ready && now >= c->not_before && now < c->not_after;
}

/* One gauge per certificate, value from a field picked by offset (time_t). */
static void gauge_times(FILE *f, struct agent_metrics *m, const char *name, const char *help,
                        size_t offset)
{
    char n[512];

    header(f, name, "gauge", help);
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct metrics_cert *c = &m->certs[i];
        if (!c->have_status) {
            continue;
        }
        fprintf(f, "%s{name=\"%s\",ca=\"%s\"} %lld\n", name, esc(c->name, n, sizeof(n)), c->ca,
                (long long)*(const time_t *)((const char *)c + offset));
    }
}

static void counter_ulong(FILE *f, struct agent_metrics *m, const char *name, const char *help,
                          size_t offset)
{
    char n[512];

    header(f, name, "counter", help);
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct metrics_cert *c = &m->certs[i];
        fprintf(f, "%s{name=\"%s\"} %lu\n", name, esc(c->name, n, sizeof(n)),
                *(const unsigned long *)((const char *)c + offset));
    }
}

static void render_certs(FILE *f, struct agent_metrics *m, time_t now)
{
    char n[512];
    char a[1100];
    char b[1100];
    char s[200];

    gauge_times(f, m, "mskpki_certificate_not_after_timestamp_seconds",
                "End of validity of the current certificate (unix seconds).",
                offsetof(struct metrics_cert, not_after));
    gauge_times(f, m, "mskpki_certificate_not_before_timestamp_seconds",
                "Start of validity of the current certificate (unix seconds).",
                offsetof(struct metrics_cert, not_before));
    gauge_times(f, m, "mskpki_certificate_next_renewal_timestamp_seconds",
                "When the agent will next try to renew or retry (unix seconds).",
                offsetof(struct metrics_cert, next_renewal));
    /* The renewal plan (pki/renewal.h): the alert rules compare these with time(). */
    gauge_times(f, m, "mskpki_certificate_renewal_planned_timestamp_seconds",
                "Planned renewal of the current certificate, without jitter; retries do not move "
                "it (unix seconds).",
                offsetof(struct metrics_cert, renewal_planned));
    gauge_times(f, m, "mskpki_certificate_renewal_overdue_timestamp_seconds",
                "Planned renewal plus the retry grace (retry.max): past it the renewal is overdue "
                "(unix seconds).",
                offsetof(struct metrics_cert, renewal_overdue));
    gauge_times(f, m, "mskpki_certificate_expiring_timestamp_seconds",
                "Past it under a tenth of the lifetime, or less than retry.min, is left "
                "(unix seconds).",
                offsetof(struct metrics_cert, expiring));
    header(f, "mskpki_certificate_ready", "gauge",
           "1 while a valid current certificate and key are in place, else 0.");
    for (size_t i = 0; i < m->n_certs; i++) {
        fprintf(f, "mskpki_certificate_ready{name=\"%s\"} %d\n",
                esc(m->certs[i].name, n, sizeof(n)), cert_ready(&m->certs[i], now));
    }
    header(f, "mskpki_certificate_info", "gauge",
           "Identity of the current certificate; the value is always 1.");
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct metrics_cert *c = &m->certs[i];
        if (!c->have_status || c->serial == NULL) {
            continue;
        }
        fprintf(f,
                "mskpki_certificate_info{name=\"%s\",ca=\"%s\",serial=\"%s\",issuer=\"%s\","
                "subject=\"%s\"} 1\n",
                esc(c->name, n, sizeof(n)), c->ca, esc(c->serial, s, sizeof(s)),
                esc(str(c->issuer), a, sizeof(a)), esc(str(c->subject), b, sizeof(b)));
    }
    gauge_times(f, m, "mskpki_rotation_last_success_timestamp_seconds",
                "Last successful rotation (unix seconds, 0 when never).",
                offsetof(struct metrics_cert, last_success));
    gauge_times(f, m, "mskpki_rotation_last_attempt_timestamp_seconds",
                "Last rotation attempt (unix seconds, 0 when never).",
                offsetof(struct metrics_cert, last_attempt));
    header(f, "mskpki_rotations_total", "counter", "Rotation attempts by result.");
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct metrics_cert *c = &m->certs[i];
        esc(c->name, n, sizeof(n));
        fprintf(f, "mskpki_rotations_total{name=\"%s\",result=\"success\"} %lu\n", n,
                c->rotations_success);
        fprintf(f, "mskpki_rotations_total{name=\"%s\",result=\"failure\"} %lu\n", n,
                c->rotations_failure);
    }
    header(f, "mskpki_rotation_duration_seconds", "histogram",
           "Duration of rotation attempts (key, CSR, CA, verify, write).");
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct metrics_cert *c = &m->certs[i];
        unsigned long cum = 0;
        esc(c->name, n, sizeof(n));
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += c->buckets[k];
            fprintf(f, "mskpki_rotation_duration_seconds_bucket{name=\"%s\",le=\"%g\"} %lu\n", n,
                    duration_buckets[k], cum);
        }
        fprintf(f, "mskpki_rotation_duration_seconds_bucket{name=\"%s\",le=\"+Inf\"} %lu\n", n,
                c->duration_count);
        fprintf(f, "mskpki_rotation_duration_seconds_sum{name=\"%s\"} %.6f\n", n, c->duration_sum);
        fprintf(f, "mskpki_rotation_duration_seconds_count{name=\"%s\"} %lu\n", n,
                c->duration_count);
    }
    header(f, "mskpki_rotation_consecutive_failures", "gauge",
           "Failed rotation attempts since the last success.");
    for (size_t i = 0; i < m->n_certs; i++) {
        fprintf(f, "mskpki_rotation_consecutive_failures{name=\"%s\"} %lu\n",
                esc(m->certs[i].name, n, sizeof(n)), m->certs[i].consecutive_failures);
    }
    counter_ulong(f, m, "mskpki_hook_failures_total",
                  "Post-rotation hook runs that failed or timed out.",
                  offsetof(struct metrics_cert, hook_failures));
    counter_ulong(f, m, "mskpki_certificates_issued_total",
                  "Certificates the CA issued to this agent (each one costs money on AWS).",
                  offsetof(struct metrics_cert, issued));
    counter_ulong(f, m, "mskpki_store_corrupt_total",
                  "Corrupt or unreadable output files found (and replaced).",
                  offsetof(struct metrics_cert, corrupt));
    /* Only reasons that happened: a refusal means a bug or an attack, never routine. */
    header(f, "mskpki_keyproc_refusals_total", "counter",
           "Requests the key process refused against its configuration, by reason.");
    for (size_t i = 0; i < m->n_certs; i++) {
        for (int r = 0; r < AGENT_KEYPOLICY__MAX; r++) {
            if (m->certs[i].refusals[r] != 0) {
                fprintf(f, "mskpki_keyproc_refusals_total{name=\"%s\",reason=\"%s\"} %lu\n",
                        esc(m->certs[i].name, n, sizeof(n)), agent_keypolicy_reason_name(r),
                        m->certs[i].refusals[r]);
            }
        }
    }
}

static void render_ca(FILE *f, struct agent_metrics *m)
{
    struct code_count all[MAX_CODES];
    size_t n = 0;
    char c[200];

    for (size_t i = 0; i < m->n_base; i++) {
        add_code(all, &n, m->base[i].code, m->base[i].count);
    }
    for (size_t i = 0; i < m->n_cur; i++) {
        add_code(all, &n, m->cur[i].code, m->cur[i].count);
    }
    header(f, "mskpki_ca_requests_total", "counter", "Requests to the CA backend by outcome code.");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "mskpki_ca_requests_total{ca=\"%s\",code=\"%s\"} %lu\n", m->ca_kind,
                esc(all[i].code, c, sizeof(c)), all[i].count);
    }
    if (m->creds_source[0] != '\0') {
        /* Roles Anywhere: "roles-anywhere" while the certificate pays for its renewal, the
         * chain's source ("env", "imds", ...) while bootstrapping. */
        header(f, "mskpki_aws_credentials_source_info", "gauge",
               "Source of the AWS credentials the aws-pca backend signs with; the value is 1.");
        fprintf(f, "mskpki_aws_credentials_source_info{source=\"%s\"} 1\n",
                esc(m->creds_source, c, sizeof(c)));
        if (m->creds_expiry != 0) {
            header(f, "mskpki_aws_credentials_expiry_timestamp_seconds", "gauge",
                   "When the aws-pca backend's temporary AWS credentials expire.");
            fprintf(f, "mskpki_aws_credentials_expiry_timestamp_seconds %lld\n",
                    (long long)m->creds_expiry);
        }
    }
}

char *agent_metrics_render(struct agent_metrics *m, time_t now, size_t *len, struct mk_err *err)
{
    char *buf = NULL;
    size_t size = 0;
    char v[200];
    FILE *f = open_memstream(&buf, &size);

    if (f == NULL) {
        mk_err_errno(err, MK_ERR_NOMEM, "metrics: open_memstream");
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    header(f, "mskpki_build_info", "gauge", "Version of the running agent; the value is 1.");
    fprintf(f, "mskpki_build_info{version=\"%s\"} 1\n", esc(m->version, v, sizeof(v)));
    header(f, "mskpki_agent_wakeups_total", "counter",
           "Times the agent's main loop woke up (timer deadlines and signals).");
    fprintf(f, "mskpki_agent_wakeups_total %lu\n", m->wakeups);
    render_certs(f, m, now);
    render_ca(f, m);
    pthread_mutex_unlock(&m->lock);
    if (fclose(f) != 0) {
        free(buf);
        mk_err_errno(err, MK_ERR_NOMEM, "metrics: render");
        return NULL;
    }
    if (len != NULL) {
        *len = size;
    }
    return buf;
}

int agent_metrics_healthy(struct agent_metrics *m, time_t now)
{
    int ok = 1;

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_certs; i++) {
        if (!cert_ready(&m->certs[i], now)) {
            ok = 0;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result text_reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);

    if (body == NULL) {
        return MHD_NO;
    }
    return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/*
 * The connection guard (issue 16).  libmicrohttpd's own timeout is an idle timeout: a client that
 * sends a byte every few seconds keeps its slot for ever, and 64 of them blocked every scrape.  So
 * each connection also gets an absolute deadline (metrics.connection_timeout from its accept):
 * the sweeper thread shuts down the socket of any connection older than that, and libmicrohttpd
 * then sees the end of the stream and closes it.  shutdown(2) never frees the descriptor, and the
 * list entry is removed (under lock) before libmicrohttpd closes it, so the sweeper cannot touch
 * a descriptor that was reused.  Together with the per-address limit, one client address cannot
 * hold more than max_connections_per_ip slots, nor any slot for longer than the deadline.
 */
struct metrics_conn {
    int fd;
    int shut;
    struct timespec start;
    struct metrics_conn *next;
};

struct metrics_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t sweeper;
    int sweeper_started;
    int stopping; /* under lock */
    long deadline_ms;
    int verify_client;
    struct metrics_conn *conns; /* under lock */
};

static long mono_ms(const struct timespec *t)
{
    return (long)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/*
 * Sleeps until the oldest live connection's deadline, or, with no connection, until one comes:
 * an idle agent must not wake up (tests/agent/test_idle.py counts context switches).
 */
static void *sweep(void *arg)
{
    struct metrics_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec now;
        long next = -1; /* the earliest deadline still ahead, in mono_ms() units */
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (struct metrics_conn *c = g->conns; c != NULL; c = c->next) {
            long due = mono_ms(&c->start) + g->deadline_ms;
            if (c->shut) {
                continue;
            }
            if (mono_ms(&now) >= due) {
                shutdown(c->fd, SHUT_RDWR);
                c->shut = 1;
                mk_log(MK_LOG_DEBUG, "metrics.connection_deadline", "fd=%d deadline_ms=%ld", c->fd,
                       g->deadline_ms);
            } else if (next < 0 || due < next) {
                next = due;
            }
        }
        if (next < 0) {
            pthread_cond_wait(&g->wake, &g->lock);
            continue;
        }
        struct timespec until = {next / 1000, (next % 1000) * 1000000L};
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION, on libmicrohttpd's thread. */
static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    struct metrics_guard *g = cls;
    struct metrics_conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = ci != NULL ? calloc(1, sizeof(*c)) : NULL;
        if (c == NULL) {
            return; /* out of memory: this one has only the idle timeout */
        }
        c->fd = ci->connect_fd;
        clock_gettime(CLOCK_MONOTONIC, &c->start);
        pthread_mutex_lock(&g->lock);
        c->next = g->conns;
        g->conns = c;
        pthread_cond_signal(&g->wake); /* the sweeper may be waiting for a first connection */
        pthread_mutex_unlock(&g->lock);
        *socket_context = c;
        return;
    }
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&g->lock);
    for (struct metrics_conn **pp = &g->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(c);
    *socket_context = NULL;
}

static struct metrics_guard *guard_new(long deadline_ms, int verify_client, struct mk_err *err)
{
    struct metrics_guard *g = calloc(1, sizeof(*g));
    pthread_condattr_t ca;

    if (g == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "metrics: out of memory");
        return NULL;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    g->deadline_ms = deadline_ms;
    g->verify_client = verify_client;
    return g;
}

static int guard_start(struct metrics_guard *g, struct mk_err *err)
{
    int rc = pthread_create(&g->sweeper, NULL, sweep, g);
    if (rc != 0) {
        errno = rc;
        mk_err_errno(err, MK_ERR_IO, "metrics: pthread_create");
        return -1;
    }
    g->sweeper_started = 1;
    return 0;
}

/* After MHD_stop_daemon (which reported every connection closed).  NULL is a no-op. */
static void guard_free(struct metrics_guard *g)
{
    if (g == NULL) {
        return;
    }
    if (g->sweeper_started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->sweeper, NULL);
    }
    while (g->conns != NULL) {
        struct metrics_conn *next = g->conns->next;
        free(g->conns);
        g->conns = next;
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* mTLS: a certificate was presented and verifies against metrics.client_ca_file.  libmicrohttpd
 * only requests one (GNUTLS_CERT_REQUEST), so the requirement is enforced here. */
static int client_cert_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned status = 0;
    unsigned n = 0;

    if (ci == NULL || ci->tls_session == NULL) {
        return 0;
    }
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    if (gnutls_certificate_get_peers(s, &n) == NULL || n == 0) {
        return 0;
    }
    return gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

/* The whole of a PEM file (at most 1 MiB), NUL-terminated.  Caller frees with pem_free() (a key
 * may be in it). */
static char *read_pem(const char *path, const char *setting, struct mk_err *err)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    char *buf = NULL;
    size_t len = 0;

    if (f == NULL) {
        mk_err_errno(err, MK_ERR_IO, "metrics: %s: cannot open %s", setting, path);
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > 1024 * 1024) {
        mk_err_set(err, MK_ERR_IO, "metrics: %s: %s is not a regular file of 1 byte to 1 MiB",
                   setting, path);
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "metrics: out of memory");
        fclose(f);
        return NULL;
    }
    len = fread(buf, 1, (size_t)st.st_size, f);
    buf[len] = '\0';
    if (ferror(f) || len == 0) {
        mk_err_set(err, MK_ERR_IO, "metrics: %s: cannot read %s", setting, path);
        sodium_memzero(buf, len);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Wipes and frees a read_pem() buffer.  NULL is a no-op. */
static void pem_free(char *pem)
{
    if (pem != NULL) {
        sodium_memzero(pem, strlen(pem));
        free(pem);
    }
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    struct agent_metrics *m = cls;
    struct mk_err err;
    size_t len = 0;
    char *body;

    /* Read under no lock: the guard lives as long as the daemon that calls us. */
    if (m->guard != NULL && m->guard->verify_client && !client_cert_ok(conn)) {
        return text_reply(conn, MHD_HTTP_FORBIDDEN, "a client certificate is required\n");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return text_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        body = agent_metrics_render(m, time(NULL), &len, &err);
        if (body == NULL) {
            return text_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "render failed\n");
        }
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (agent_metrics_healthy(m, time(NULL))) {
            return text_reply(conn, MHD_HTTP_OK, "ok\n");
        }
        return text_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    return text_reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* "host:port" or "[v6]:port" into a numeric socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, int *v6,
                        struct mk_err *err)
{
    char host[256];
    const char *colon;
    const char *port;
    struct addrinfo hints;
    struct addrinfo *ai = NULL;
    size_t hl;
    int rc = -1;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        MK_ENSURE(close != NULL && close[1] == ':', err, MK_ERR_CONFIG,
                  "metrics: listen address '%s': expected [addr]:port", listen);
        hl = (size_t)(close - listen - 1);
        MK_ENSURE(hl < sizeof(host), err, MK_ERR_CONFIG, "metrics: listen address too long");
        memcpy(host, listen + 1, hl);
        port = close + 2;
    } else {
        colon = strrchr(listen, ':');
        MK_ENSURE(colon != NULL, err, MK_ERR_CONFIG,
                  "metrics: listen address '%s': expected host:port", listen);
        hl = (size_t)(colon - listen);
        MK_ENSURE(hl < sizeof(host), err, MK_ERR_CONFIG, "metrics: listen address too long");
        memcpy(host, listen, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    MK_ENSURE(getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai) == 0 && ai != NULL, err,
              MK_ERR_CONFIG, "metrics: listen address '%s': not a numeric host:port", listen);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    *v6 = ai->ai_family == AF_INET6;
    rc = 0;
out:
    if (ai != NULL) {
        freeaddrinfo(ai);
    }
    return rc;
}

int agent_metrics_listen(struct agent_metrics *m, const char *listen,
                         const struct conf_metrics *opts, struct mk_err *err)
{
    static const struct conf_metrics defaults = {
        .connection_timeout_seconds = 10, .max_connections = 64, .max_connections_per_ip = 8};
    const struct conf_metrics *o = opts != NULL ? opts : &defaults;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int v6 = 0;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    struct metrics_guard *g = NULL;
    char *cert = NULL;
    char *key = NULL;
    char *trust = NULL;
    int rc = -1;
    struct MHD_OptionItem tls[4];
    size_t nt = 0;

    agent_metrics_stop(m);
    if (listen == NULL || listen[0] == '\0') {
        return 0;
    }
    if (parse_listen(listen, &ss, &sslen, &v6, err) != 0) {
        return -1;
    }
    if (v6) {
        flags |= MHD_USE_IPv6;
    }
    if (o->tls_cert_file != NULL) {
        cert = read_pem(o->tls_cert_file, "metrics.tls_cert_file", err);
        MK_GUARD_PTR(cert);
        key = read_pem(o->tls_key_file, "metrics.tls_key_file", err);
        MK_GUARD_PTR(key);
        tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
        if (o->client_ca_file != NULL) {
            trust = read_pem(o->client_ca_file, "metrics.client_ca_file", err);
            MK_GUARD_PTR(trust);
            tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, trust};
        }
        flags |= MHD_USE_TLS;
    }
    tls[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    g = guard_new(o->connection_timeout_seconds * 1000, o->client_ca_file != NULL, err);
    MK_GUARD_PTR(g);
    /* Before the first connection can reach handle(): the mTLS check must never be skipped. */
    m->guard = g;
    /* Port 0 on the command line of MHD means "use the address's port". */
    d = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)o->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         (unsigned)o->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)o->connection_timeout_seconds, MHD_OPTION_NOTIFY_CONNECTION,
                         notify_conn, g, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (d == NULL) {
        m->guard = NULL;
        mk_err_set(err, MK_ERR_IO, "metrics: cannot listen on %s (address in use%s?)", listen,
                   cert != NULL ? ", or a bad metrics.tls_cert_file/tls_key_file/client_ca_file"
                                : "");
        goto out;
    }
    if (guard_start(g, err) != 0) {
        MHD_stop_daemon(d);
        m->guard = NULL;
        goto out;
    }
    m->daemon = d;
    g = NULL;
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info != NULL ? info->port : 0;
    rc = 0;
out:
    guard_free(g);
    /* GnuTLS copied the certificates and the key when the daemon started. */
    pem_free(cert);
    pem_free(key);
    pem_free(trust);
    return rc;
}

int agent_metrics_opts_equal(const struct conf_metrics *a, const struct conf_metrics *b)
{
    const char *ca = a->client_ca_file != NULL ? a->client_ca_file : "";
    const char *cb = b->client_ca_file != NULL ? b->client_ca_file : "";
    return a->insecure == b->insecure &&
           a->connection_timeout_seconds == b->connection_timeout_seconds &&
           a->max_connections == b->max_connections &&
           a->max_connections_per_ip == b->max_connections_per_ip && strcmp(ca, cb) == 0;
}

unsigned agent_metrics_port(struct agent_metrics *m)
{
    return m->daemon != NULL ? m->port : 0;
}

void agent_metrics_stop(struct agent_metrics *m)
{
    if (m->daemon != NULL) {
        MHD_stop_daemon(m->daemon);
        m->daemon = NULL;
        m->port = 0;
    }
    guard_free(m->guard);
    m->guard = NULL;
}
