/*
 * main.c: mskpki-agent, the supervisor: command line, start-up, and the main loop.
 *
 * The loop sleeps in poll() on a signalfd and a timerfd (CLOCK_REALTIME, absolute, cancelled on
 * clock changes) armed at the earliest deadline of all certificates, so an idle agent never
 * wakes up.  Each wake-up is counted (mskpki_agent_wakeups_total).  Rotations run in this
 * thread, one at a time; signals that arrive meanwhile wait in the signalfd, so SIGTERM stops
 * the agent after the rotation in flight.  The metrics server runs in libmicrohttpd's thread.
 *
 * The agent always runs in the foreground (systemd Type=notify, or a terminal); --foreground is
 * accepted for clarity and changes nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/iterate.h"
#include "agent/metrics.h"
#include "agent/notify.h"
#include "agent/schedule.h"
#include "agent/signals.h"
#include "conf/conf.h"
#include "pki/log.h"
#include "pki/secret.h"

#define DEFAULT_CONFIG "/etc/mskpki/mskpki.conf"

enum agent_exit { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct agent {
    struct conf *cfg;
    struct agent_ctx ctx;
    struct agent_metrics *metrics;
    struct agent_cert *certs;
    size_t n_certs;
    int sigfd;
    int tfd;
    int wdfd;
    int stop;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mskpki-agent [--config FILE] [--foreground] [--once | --renew NAME |"
            " --check-config]\n"
            "  --config FILE     configuration file (default " DEFAULT_CONFIG ")\n"
            "  --foreground      run in the foreground (the agent always does; for systemd"
            " Type=notify)\n"
            "  --once            renew what is due (missing, expired or past its renewal time),"
            " then exit\n"
            "                    0 when every attempt succeeded, else 1\n"
            "  --renew NAME      renew certificate NAME now, then exit (2: unknown name)\n"
            "  --check-config    validate the configuration: exit 0, or 2 with the error\n"
            "  --version         print the version\n"
            "  --help            this text\n"
            "signals: HUP reloads the configuration, TERM/INT stop, USR1 renews everything now\n");
}

/* The state directory holds state files (0644) and pending keys (0600): created 0755 when
 * missing, as mskpkictl status reads it unprivileged. */
static int ensure_state_dir(const char *dir, struct mk_err *err)
{
    struct stat st;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        mk_err_errno(err, MK_ERR_IO, "state_dir %s: mkdir", dir);
        return -1;
    }
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        mk_err_set(err, MK_ERR_IO, "state_dir %s: not a directory", dir);
        return -1;
    }
    return 0;
}

static int certs_build(struct agent *a, const struct conf *cfg, struct mk_err *err)
{
    struct agent_cert *certs = calloc(cfg->n_certs, sizeof(*certs));
    const char **names = calloc(cfg->n_certs, sizeof(*names));
    int rc = -1;

    MK_ENSURE(certs != NULL && names != NULL, err, MK_ERR_NOMEM, "agent: out of memory");
    for (size_t i = 0; i < cfg->n_certs; i++) {
        names[i] = cfg->certs[i].name;
    }
    /* The only step that can fail comes first, so a failure leaves everything as it was. */
    if (a->metrics != NULL) {
        MK_GUARD(agent_metrics_set_names(a->metrics, names, cfg->n_certs, err));
    }
    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct conf_certificate *cc = &cfg->certs[i];
        struct agent_cert *old = NULL;
        for (size_t j = 0; j < a->n_certs; j++) {
            if (a->certs[j].cc != NULL && strcmp(a->certs[j].name, cc->name) == 0) {
                old = &a->certs[j];
            }
        }
        if (old != NULL) {
            /* Keep counters, pending hook and revocations; reload from the (new) outputs. */
            certs[i] = *old;
            memset(old, 0, sizeof(*old));
            agent_cert_rebind(&certs[i], cc);
        } else {
            agent_cert_init(&certs[i], cc);
        }
    }
    for (size_t j = 0; j < a->n_certs; j++) {
        if (a->certs[j].cc != NULL) {
            mk_log(MK_LOG_INFO, "certificate.removed", "name=%s", a->certs[j].name);
        }
        agent_cert_clear(&a->certs[j]);
    }
    free(a->certs);
    a->certs = certs;
    a->n_certs = cfg->n_certs;
    certs = NULL;
    rc = 0;
out:
    free(certs);
    free(names);
    return rc;
}

static void certs_free(struct agent *a)
{
    for (size_t i = 0; i < a->n_certs; i++) {
        agent_cert_clear(&a->certs[i]);
    }
    free(a->certs);
    a->certs = NULL;
    a->n_certs = 0;
}

static void status_line(struct agent *a, time_t now)
{
    size_t ready = 0;
    time_t next = 0;
    const char *next_name = "-";

    for (size_t i = 0; i < a->n_certs; i++) {
        time_t d = agent_cert_deadline(&a->certs[i]);
        ready += (size_t)agent_cert_ready(&a->certs[i], now);
        if (d != 0 && (next == 0 || d < next)) {
            next = d;
            next_name = a->certs[i].name;
        }
    }
    agent_notify_status("%zu certificate(s), %zu ready; next action %s in %llds", a->n_certs, ready,
                        next_name, (long long)(next > now ? next - now : 0));
}

/* Arms the timer at the earliest deadline (absolute realtime; cancelled if the clock is set). */
static int arm_timer(struct agent *a, struct mk_err *err)
{
    struct itimerspec its;
    time_t next = 0;

    for (size_t i = 0; i < a->n_certs; i++) {
        next = agent_schedule_min(next, agent_cert_deadline(&a->certs[i]));
    }
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = next; /* 0 disarms: nothing to do until a signal */
    if (timerfd_settime(a->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) != 0) {
        mk_err_errno(err, MK_ERR_IO, "agent: timerfd_settime");
        return -1;
    }
    return 0;
}

static void apply_log(const struct conf *cfg)
{
    mk_log_setup(cfg->log_level, cfg->log_target, "mskpki-agent");
}

static void reload(struct agent *a)
{
    struct conf *cfg;
    struct mk_err err;
    int listen_changed;

    cfg = conf_load(a->cfg->path, &err);
    if (cfg == NULL) {
        mk_log(MK_LOG_ERROR, "config.reload_failed", "path=%s keeping=old", a->cfg->path);
        mk_log_err("config.reload_failed", &err);
        agent_notify_status("configuration reload failed; running on the old one");
        return;
    }
    if (ensure_state_dir(cfg->state_dir, &err) != 0) {
        mk_log_err("config.reload_failed", &err);
        conf_free(cfg);
        return;
    }
    agent_ctx_drop_ca(&a->ctx);
    a->ctx.cfg = cfg;
    if (certs_build(a, cfg, &err) != 0) {
        a->ctx.cfg = a->cfg;
        mk_log_err("config.reload_failed", &err);
        conf_free(cfg);
        return;
    }
    listen_changed = strcmp(cfg->metrics_listen, a->cfg->metrics_listen) != 0;
    if (listen_changed && agent_metrics_listen(a->metrics, cfg->metrics_listen, &err) != 0) {
        mk_log_err("metrics.listen_failed", &err);
        /* Keep serving where scrapers already look rather than go dark. */
        if (agent_metrics_listen(a->metrics, a->cfg->metrics_listen, &err) != 0) {
            mk_log_err("metrics.listen_failed", &err);
        }
    }
    conf_free(a->cfg);
    a->cfg = cfg;
    apply_log(cfg);
    mk_log(MK_LOG_INFO, "config.reloaded", "path=%s certificates=%zu", cfg->path, cfg->n_certs);
}

/*
 * The realtime clock was set (the timerfd read failed with ECANCELED, TFD_TIMER_CANCEL_ON_SET).
 * Every deadline is absolute, so re-planning is the loop's next pass: it takes the new time,
 * runs what is now due (a certificate the jump expired is rotated at once) and re-arms the
 * timer, which the kernel disarmed.  Nothing may sleep on a deadline computed before the jump.
 */
static void clock_changed(struct agent *a)
{
    mk_log(MK_LOG_INFO, "clock.changed", "now=%lld certificates=%zu", (long long)time(NULL),
           a->n_certs);
}

static void handle_signals(struct agent *a)
{
    struct mk_err err;
    int signo;
    int r;

    while ((r = agent_signals_read(a->sigfd, &signo, &err)) == 1) {
        switch (signo) {
        case SIGHUP:
            mk_log(MK_LOG_INFO, "signal.reload", "signal=HUP");
            reload(a);
            break;
        case SIGTERM:
        case SIGINT:
            mk_log(MK_LOG_INFO, "signal.stop", "signal=%s", signo == SIGTERM ? "TERM" : "INT");
            a->stop = 1;
            break;
        case SIGUSR1:
            mk_log(MK_LOG_INFO, "signal.renew_all", "signal=USR1");
            for (size_t i = 0; i < a->n_certs; i++) {
                agent_cert_force(&a->certs[i]);
            }
            break;
#ifdef MK_TESTING
        case SIGUSR2:
            /* Tests cannot set the host's clock, so they cannot make the kernel cancel the
             * timer; they move a libfaketime clock and send this instead (tests/reliability). */
            clock_changed(a);
            break;
#endif
        default:
            break;
        }
    }
    if (r < 0) {
        mk_log_err("signal.read_failed", &err);
    }
}

static int watchdog_open(struct agent *a, struct mk_err *err)
{
    unsigned long long usec = agent_notify_watchdog_usec();
    struct itimerspec its;

    a->wdfd = -1;
    if (usec == 0) {
        return 0;
    }
    /* Pinging at half the interval leaves systemd a full half interval of slack. */
    usec /= 2;
    if (usec == 0) {
        usec = 1;
    }
    a->wdfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    MK_ENSURE_ERRNO(a->wdfd >= 0, err, MK_ERR_IO, "agent: timerfd_create (watchdog)");
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_sec = (time_t)(usec / 1000000ULL);
    its.it_interval.tv_nsec = (long)(usec % 1000000ULL) * 1000L;
    its.it_value = its.it_interval;
    MK_ENSURE_ERRNO(timerfd_settime(a->wdfd, 0, &its, NULL) == 0, err, MK_ERR_IO,
                    "agent: timerfd_settime (watchdog)");
    return 0;
out:
    return -1;
}

static int run_loop(struct agent *a)
{
    struct mk_err err;
    time_t now;
    uint64_t ticks;

    now = time(NULL);
    for (size_t i = 0; i < a->n_certs; i++) {
        agent_cert_load(&a->ctx, &a->certs[i], now);
    }
    if (agent_notify("READY=1", &err) != 0) {
        mk_log_err("notify.failed", &err);
    }
    mk_log(MK_LOG_INFO, "agent.ready", "certificates=%zu metrics_port=%u", a->n_certs,
           agent_metrics_port(a->metrics));
    while (!a->stop) {
        struct pollfd fds[3];
        nfds_t nfds = 2;

        now = time(NULL);
        for (size_t i = 0; i < a->n_certs && !a->stop; i++) {
            time_t d = agent_cert_deadline(&a->certs[i]);
            if (d != 0 && d <= now) {
                agent_iterate(&a->ctx, &a->certs[i], now);
                now = time(NULL);
            }
        }
        status_line(a, now);
        if (arm_timer(a, &err) != 0) {
            mk_log_err("agent.timer_failed", &err);
            return EXIT_FAIL;
        }
        fds[0] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = a->tfd, .events = POLLIN};
        if (a->wdfd >= 0) {
            fds[2] = (struct pollfd){.fd = a->wdfd, .events = POLLIN};
            nfds = 3;
        }
        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            mk_err_errno(&err, MK_ERR_IO, "agent: poll");
            mk_log_err("agent.poll_failed", &err);
            return EXIT_FAIL;
        }
        agent_metrics_wakeup(a->metrics);
        if (fds[1].revents & POLLIN) {
            if (read(a->tfd, &ticks, sizeof(ticks)) < 0 && errno == ECANCELED) {
                clock_changed(a);
            }
        }
        if (nfds == 3 && (fds[2].revents & POLLIN)) {
            if (read(a->wdfd, &ticks, sizeof(ticks)) > 0 && agent_notify("WATCHDOG=1", &err) != 0) {
                mk_log_err("notify.failed", &err);
            }
        }
        if (fds[0].revents & POLLIN) {
            handle_signals(a);
        }
    }
    if (agent_notify("STOPPING=1", &err) != 0) {
        mk_log_err("notify.failed", &err);
    }
    mk_log(MK_LOG_INFO, "agent.stopped", NULL);
    return EXIT_OK;
}

/* --once and --renew: one pass, no server, no signals. */
static int run_once(struct agent *a, const char *renew)
{
    time_t now = time(NULL);
    int failed = 0;

    a->ctx.once = 1;
    for (size_t i = 0; i < a->n_certs; i++) {
        struct agent_cert *c = &a->certs[i];
        if (renew != NULL) {
            if (strcmp(c->name, renew) != 0) {
                continue;
            }
            agent_cert_force(c);
        }
        agent_iterate(&a->ctx, c, now);
        if (c->attempted && (c->last_result != AGENT_RESULT_SUCCESS || c->hook_failed)) {
            failed = 1;
        }
        if (!agent_cert_ready(c, time(NULL))) {
            failed = 1;
        }
        mk_log(MK_LOG_INFO, "once.result", "name=%s attempted=%d result=%s ready=%d", c->name,
               c->attempted, c->attempted ? agent_result_name(c->last_result) : "not-due",
               agent_cert_ready(c, time(NULL)));
    }
    return failed ? EXIT_FAIL : EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
        {"once", no_argument, NULL, 'o'},         {"check-config", no_argument, NULL, 'k'},
        {"renew", required_argument, NULL, 'r'},  {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config = DEFAULT_CONFIG;
    const char *renew = NULL;
    int once = 0;
    int check = 0;
    struct agent a;
    struct mk_err err;
    int opt;
    int rc = EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    a.sigfd = a.tfd = a.wdfd = -1;
    while ((opt = getopt_long(argc, argv, "c:fokr:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            break;
        case 'o':
            once = 1;
            break;
        case 'k':
            check = 1;
            break;
        case 'r':
            renew = optarg;
            break;
        case 'V':
            printf("mskpki-agent %s\n", MSKPKI_VERSION);
            return EXIT_OK;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || once + check + (renew != NULL) > 1) {
        fprintf(stderr, "mskpki-agent: --once, --renew and --check-config exclude each other and"
                        " no operands are taken\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    a.cfg = conf_load(config, &err);
    if (a.cfg == NULL) {
        fprintf(stderr, "mskpki-agent: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (check) {
        printf("%s: ok (%zu certificate(s))\n", config, a.cfg->n_certs);
        conf_free(a.cfg);
        return EXIT_OK;
    }
    if (renew != NULL && conf_find_certificate(a.cfg, renew) == NULL) {
        fprintf(stderr, "mskpki-agent: --renew: no certificate named '%s' in %s\n", renew, config);
        conf_free(a.cfg);
        return EXIT_USAGE;
    }
    apply_log(a.cfg);
    if (pki_sodium_init(&err) != 0 || ensure_state_dir(a.cfg->state_dir, &err) != 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    a.metrics = agent_metrics_new(MSKPKI_VERSION, &err);
    if (a.metrics == NULL) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    a.ctx.cfg = a.cfg;
    a.ctx.metrics = a.metrics;
    if (certs_build(&a, a.cfg, &err) != 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    if (once || renew != NULL) {
        rc = run_once(&a, renew);
        goto out;
    }
    /* Signals are blocked before microhttpd starts its thread, which inherits the mask. */
    a.sigfd = agent_signals_open(&err);
    if (a.sigfd < 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    a.tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (a.tfd < 0) {
        mk_err_errno(&err, MK_ERR_IO, "agent: timerfd_create");
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    if (watchdog_open(&a, &err) != 0 ||
        agent_metrics_listen(a.metrics, a.cfg->metrics_listen, &err) != 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    mk_log(MK_LOG_INFO, "agent.start", "version=%s config=%s certificates=%zu", MSKPKI_VERSION,
           a.cfg->path, a.cfg->n_certs);
    rc = run_loop(&a);
out:
    certs_free(&a);
    agent_ctx_drop_ca(&a.ctx);
    agent_metrics_free(a.metrics);
    if (a.sigfd >= 0) {
        close(a.sigfd);
    }
    if (a.tfd >= 0) {
        close(a.tfd);
    }
    if (a.wdfd >= 0) {
        close(a.wdfd);
    }
    conf_free(a.cfg);
    return rc;
}
