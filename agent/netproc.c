/*
 * netproc.c: the network process (see netproc.h): the main loop of mskpki-agent.
 *
 * The loop sleeps in poll() on a signalfd and a timerfd (CLOCK_REALTIME, absolute, cancelled on
 * clock changes) armed at the earliest deadline of all certificates, so an idle agent never
 * wakes up.  Each wake-up is counted (mskpki_agent_wakeups_total).  Rotations run in this
 * thread, one at a time; signals that arrive meanwhile wait in the signalfd, so SIGTERM stops
 * the agent after the rotation in flight.  The metrics server runs in libmicrohttpd's thread.
 * The supervisor forwards its signals here.
 */
#include "agent/netproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/hostile.h"
#include "agent/ipc.h"
#include "agent/iterate.h"
#include "agent/keyclient.h"
#include "agent/metrics.h"
#include "agent/notify.h"
#include "agent/sandbox.h"
#include "agent/schedule.h"
#include "agent/signals.h"
#ifdef MK_TESTING
#include "agent/hostile_fs.h"
#endif
#include "pki/keepalive.h"
#include "pki/log.h"
#include "pki/store.h"

enum agent_exit { EXIT_OK = 0, EXIT_FAIL = 1 };

struct agent {
    struct conf *cfg;
    int sup_fd;
    struct agent_ctx ctx;
    struct agent_metrics *metrics;
    struct agent_cert *certs;
    size_t n_certs;
    int sigfd;
    int tfd;
    int wdfd;
    unsigned long long wd_half_usec; /* ping at least this often; 0: no watchdog */
    struct timespec wd_last;         /* CLOCK_MONOTONIC of the last ping */
    int stop;
    struct agent_sandbox_user user; /* who this process becomes (agent.user under root) */
    struct agent_control *control;  /* the daemon's control socket (control.h), or NULL */
};

/* One sd_notify line through the supervisor (only the main PID may notify systemd). */
static void sup_notify(struct agent *a, const char *fmt, ...) MK_PRINTF(2, 3);
static void sup_notify(struct agent *a, const char *fmt, ...)
{
    char line[512];
    struct agent_ipc_field f[1];
    struct mk_err err;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    f[0] = agent_ipc_s(line);
    if (agent_ipc_send(a->sup_fd, AGENT_IPC_SUP_NOTIFY, f, 1, &err) != 0) {
        mk_log_err("notify.failed", &err);
    }
}

/* What the network process must not open: every output directory, every secret file, the
 * local CA's directory. */
enum key_path_kind { KEY_PATH_OUTPUT, KEY_PATH_SECRET, KEY_PATH_CA };

struct key_path {
    const char *path; /* borrowed from the configuration */
    enum key_path_kind kind;
};

/* Fills kp (room for 3 * n_certs + 1) and returns the count. */
static size_t key_paths(const struct conf *cfg, struct key_path *kp)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_certs; i++) {
        const struct conf_output *o = &cfg->certs[i].output;
        kp[n++] = (struct key_path){o->directory, KEY_PATH_OUTPUT};
        if (o->key_passphrase_file != NULL) {
            kp[n++] = (struct key_path){o->key_passphrase_file, KEY_PATH_SECRET};
        }
        if (o->pkcs12_password_file != NULL) {
            kp[n++] = (struct key_path){o->pkcs12_password_file, KEY_PATH_SECRET};
        }
    }
    if (cfg->ca.type == CONF_CA_LOCAL && cfg->ca.local.directory != NULL) {
        kp[n++] = (struct key_path){cfg->ca.local.directory, KEY_PATH_CA};
    }
    return n;
}

/* 1 when this process should act as if the kernel had no Landlock. */
static int landlock_disabled(void)
{
#ifdef MK_TESTING
    /* Test builds: MSKPKI_TEST_NO_LANDLOCK=1 exercises the fallback on a kernel that has
     * Landlock (tests/agent/test_privsep_nolandlock.py). */
    const char *v = getenv("MSKPKI_TEST_NO_LANDLOCK");
    return v != NULL && strcmp(v, "1") == 0;
#else
    return 0;
#endif
}

/* One sandbox.not_hidden warning for each of the n paths the mount namespace does not cover. */
static void warn_not_hidden(const struct key_path *kp, size_t n, const char *reason,
                            const char *msg)
{
    for (size_t i = 0; i < n; i++) {
        if (!agent_sandbox_path_hidden(kp[i].path)) {
            mk_log(MK_LOG_WARN, "sandbox.not_hidden", "path=%s reason=%s msg=\"%s\"", kp[i].path,
                   reason, msg);
        }
    }
}

/*
 * The fallback without Landlock (agent_sandbox_hide_paths).  A mount covers what exists, and
 * the key process makes the output directories and the local CA's directory only when it first
 * needs them, after this process is sandboxed: they are made here first, the way the key
 * process would (same uid, same code and modes), so that the key process's files land beneath
 * the cover.  A secret file that does not exist cannot be covered: it is named in a warning.
 */
static void hide_keys(const struct key_path *kp, size_t n, const char *writable,
                      const struct agent_sandbox_user *u)
{
    const char **present = calloc(n + 1, sizeof(*present));
    struct mk_err err;
    struct stat st;
    size_t np = 0;
    int userns = 0;
    int r;

    if (present == NULL) {
        mk_log(MK_LOG_ERROR, "sandbox.failed", "msg=\"out of memory\"");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (lstat(kp[i].path, &st) != 0 && errno == ENOENT) {
            if (kp[i].kind == KEY_PATH_OUTPUT) {
                /* A failure here is the key process's to report when it needs the directory. */
                (void)!pki_store_check_dir(kp[i].path, &err);
            } else if (kp[i].kind == KEY_PATH_CA) {
                (void)!mkdir(kp[i].path, 0700);
            }
        }
        if (stat(kp[i].path, &st) == 0) {
            present[np++] = kp[i].path;
        }
    }
    r = agent_sandbox_hide_paths(present, np, writable, u, &userns, &err);
    free(present);
    if (r < 0) {
        /* Half a sandbox is no sandbox: the supervisor restarts a fresh process. */
        mk_log_err("sandbox.failed", &err);
        exit(1);
    }
    if (r == 0) {
        char reason[sizeof(err.msg)];
        mk_log_quotable(reason, sizeof(reason), err.msg);
        mk_log(MK_LOG_WARN, "sandbox.landlock_unavailable",
               "fallback=none reason=\"%s\" msg=\"the kernel has no Landlock and the mount"
               " namespace fallback is refused: the network process can reach the key files\"",
               reason);
        return;
    }
    mk_log(MK_LOG_WARN, "sandbox.landlock_unavailable",
           "fallback=mount_namespace userns=%s hidden=%zu msg=\"the kernel has no Landlock: the"
           " key paths are hidden in a private mount namespace instead\"",
           userns ? "yes" : "no", np);
    warn_not_hidden(kp, n, "missing",
                    "did not exist at start-up: the network process can open it once it is"
                    " created; restart the agent then");
}

/* Keeps the key material out of reach.  With Landlock each call adds a layer (a reload can only
 * narrow); without it, the first call hides the paths in a mount namespace (and, with u, makes
 * every mount but state_dir read-only and drops to u) and a reload can only report what it
 * cannot hide any more.  Returns 1 when Landlock applied. */
static int deny_keys(const struct conf *cfg, const struct agent_sandbox_user *u)
{
    static int calls;
    struct key_path *kp = calloc(3 * cfg->n_certs + 1, sizeof(*kp));
    const char **paths = calloc(3 * cfg->n_certs + 1, sizeof(*paths));
    struct mk_err err;
    size_t n;
    int r = 0;

    if (kp == NULL || paths == NULL) {
        mk_log(MK_LOG_ERROR, "sandbox.failed", "msg=\"out of memory\"");
        exit(1);
    }
    n = key_paths(cfg, kp);
    for (size_t i = 0; i < n; i++) {
        paths[i] = kp[i].path;
    }
    if (agent_sandbox_hidden_active()) {
        /* No capability is left to mount with: say what a reload added that stays in reach. */
        warn_not_hidden(kp, n, "reload",
                        "not hidden at start-up (mount namespace fallback): the network process"
                        " can open it; restart the agent");
        goto done;
    }
    if (!landlock_disabled()) {
        r = agent_sandbox_deny_paths(paths, n, &err);
    }
    if (r < 0) {
        /* Running without the sandbox it was asked for would be a silent downgrade. */
        mk_log_err("sandbox.failed", &err);
        exit(1);
    }
    if (r > 0) {
        mk_log(MK_LOG_DEBUG, "sandbox.landlock", "denied=%zu", n);
    } else if (calls == 0) {
        hide_keys(kp, n, cfg->state_dir, u);
    } else {
        mk_log(MK_LOG_WARN, "sandbox.landlock_unavailable",
               "fallback=none reason=\"refused at start-up\" msg=\"the kernel has no Landlock:"
               " the network process can reach the key files\"");
    }
done:
    calls++;
    free(kp);
    free(paths);
    return r > 0;
}

/*
 * The rest of the start-up sandbox, once the key paths are denied: writes confined to state_dir
 * (Landlock; the mount namespace did it with read-only mounts), then agent.user, no capability
 * and no_new_privs in every mode, Landlock, mount namespace or neither.
 */
static void confine(const struct conf *cfg, const struct agent_sandbox_user *u, pid_t parent,
                    int landlock)
{
    struct mk_err err;

    if (landlock && agent_sandbox_write_only(cfg->state_dir, &err) < 0) {
        mk_log_err("sandbox.failed", &err);
        exit(1);
    }
    if (agent_sandbox_drop_privs(u, &err) != 0) {
        mk_log_err("sandbox.failed", &err);
        exit(1);
    }
    /* A change of uid clears the parent-death signal (prctl(2)): set it again, or a killed
     * supervisor would leave this process running on its own. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) {
        exit(1);
    }
    mk_log(MK_LOG_DEBUG, "sandbox.confined", "uid=%lu gid=%lu writable=%s",
           (unsigned long)geteuid(), (unsigned long)getegid(), cfg->state_dir);
}

#ifdef MK_TESTING
/* The errno of opening path read-only, 0 when it opened. */
static int open_errno(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    close(fd);
    return 0;
}

/* Test builds: MSKPKI_TEST_PROBE="open:PATH,supopen:PATH,keyconnect:PORT,keygetfd" tries what
 * the sandbox forbids after the first loop pass and logs the errno of each attempt
 * (event=test.probe).  supopen opens PATH through /proc/<supervisor>/root: the supervisor is
 * unsandboxed and in the host's mount namespace, so only the ptrace rules stand in the way. */
static void test_probes(struct agent *a)
{
    const char *env = getenv("MSKPKI_TEST_PROBE");
    char *copy;
    char *save = NULL;

    if (env == NULL || (copy = strdup(env)) == NULL) {
        return;
    }
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        struct mk_err err;
        int e = 0;
        if (strncmp(item, "open:", 5) == 0) {
            e = open_errno(item + 5);
        } else if (strncmp(item, "supopen:", 8) == 0) {
            char path[4096];
            snprintf(path, sizeof(path), "/proc/%ld/root%s", (long)getppid(), item + 8);
            e = open_errno(path);
        } else if (strncmp(item, "keyconnect:", 11) == 0) {
            if (agent_keys_test_probe(a->ctx.key_fd, "connect", item + 11, &e, &err) != 0) {
                mk_log_err("test.probe", &err);
                continue;
            }
        } else if (strcmp(item, "keygetfd") == 0) {
            /* The key process tries to copy this process's link to the supervisor. */
            char arg[48];
            snprintf(arg, sizeof(arg), "%ld:%d", (long)getpid(), a->sup_fd);
            if (agent_keys_test_probe(a->ctx.key_fd, "getfd", arg, &e, &err) != 0) {
                mk_log_err("test.probe", &err);
                continue;
            }
        } else {
            continue;
        }
        mk_log(MK_LOG_INFO, "test.probe", "what=%s errno=%d", item, e);
    }
    free(copy);
}
#endif

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
    sup_notify(a, "STATUS=%zu certificate(s), %zu ready; next action %s in %llds", a->n_certs,
               ready, next_name, (long long)(next > now ? next - now : 0));
}

#ifdef MK_TESTING
/* Tests cannot set the host's clock: MSKPKI_TEST_TIMER_CANCELED=N makes the first N re-arms
 * fail as a clock set between two of them does (ECANCELED).  Returns -1 for such a one. */
static int test_timer_canceled(void)
{
    static long left = -1;
    if (left < 0) {
        const char *v = getenv("MSKPKI_TEST_TIMER_CANCELED");
        left = v != NULL ? strtol(v, NULL, 10) : 0;
    }
    if (left > 0) {
        left--;
        errno = ECANCELED;
        return -1;
    }
    return 0;
}
#else
static int test_timer_canceled(void)
{
    return 0;
}
#endif

static void clock_changed(struct agent *a);

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
    /* A clock set since the last read makes the kernel refuse the re-arm with ECANCELED (and
     * forget it): the deadlines are absolute, so arming again is all a set clock asks for.  A
     * host whose clock is stepped again and again (a VM resyncing) must not stop the agent. */
    for (int tries = 0;; tries++) {
        if (test_timer_canceled() == 0 &&
            timerfd_settime(a->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) ==
                0) {
            return 0;
        }
        if (errno != ECANCELED || tries == 100) {
            mk_err_errno(err, MK_ERR_IO, "agent: timerfd_settime");
            return -1;
        }
        if (tries == 0) {
            clock_changed(a);
        }
    }
}

static void apply_log(const struct conf *cfg)
{
    mk_log_setup(cfg->log_level, cfg->log_target, "mskpki-agent");
}

/* One line for a failed reload: the cause, and that the old configuration stays. */
static void reload_failed(struct agent *a, const struct mk_err *err)
{
    char msg[sizeof(err->msg)];

    mk_log_quotable(msg, sizeof(msg), err->msg);
    mk_log(MK_LOG_ERROR, "config.reload_failed", "path=%s keeping=old code=%s msg=\"%s\"",
           a->cfg->path, mk_code_str(err->code), msg);
    sup_notify(a, "STATUS=configuration reload failed; running on the old one");
}

/* The configuration's text comes from the supervisor (AGENT_IPC_SUP_CONFIG): this process's
 * sandbox may not reach the file replaced by an edit.  Caller frees with free(). */
static char *reload_text(struct agent *a, struct mk_err *err)
{
    struct agent_ipc_msg reply = {0};
    char *text = NULL;

    if (agent_ipc_call(a->sup_fd, AGENT_IPC_SUP_CONFIG, NULL, 0, &reply, NULL, 0, err) == 0) {
        text = agent_ipc_str(&reply, 0, err);
    }
    agent_ipc_msg_clear(&reply);
    return text;
}

/* Returns 0, or -1 with *errp the reason (the old configuration stays in force). */
static int reload(struct agent *a, struct mk_err *errp)
{
    struct conf *cfg = NULL;
    struct mk_err err;
    char *text;
    int listen_changed;

    text = reload_text(a, &err);
    if (text != NULL) {
        cfg = conf_load_text(a->cfg->path, text, &err);
        free(text);
    }
    if (cfg == NULL) {
        reload_failed(a, &err);
        *errp = err;
        return -1;
    }
    /* The key process reads the same file: both run on the new configuration or neither. */
    if (agent_keys_reload(a->ctx.key_fd, &err) != 0) {
        reload_failed(a, &err);
        conf_free(cfg);
        *errp = err;
        return -1;
    }
    (void)deny_keys(cfg, &a->user);
    agent_ctx_drop_ca(&a->ctx);
    a->ctx.cfg = cfg;
    if (certs_build(a, cfg, &err) != 0) {
        a->ctx.cfg = a->cfg;
        reload_failed(a, &err);
        conf_free(cfg);
        *errp = err;
        return -1;
    }
    /* With TLS on, a reload also picks up renewed certificate files. */
    listen_changed = strcmp(cfg->metrics_listen, a->cfg->metrics_listen) != 0 ||
                     cfg->metrics.tls_cert_file != NULL || a->cfg->metrics.tls_cert_file != NULL ||
                     !agent_metrics_opts_equal(&cfg->metrics, &a->cfg->metrics);
    if (listen_changed &&
        agent_metrics_listen(a->metrics, cfg->metrics_listen, &cfg->metrics, &err) != 0) {
        mk_log_err("metrics.listen_failed", &err);
        /* Keep serving where scrapers already look rather than go dark. */
        if (agent_metrics_listen(a->metrics, a->cfg->metrics_listen, &a->cfg->metrics, &err) != 0) {
            mk_log_err("metrics.listen_failed", &err);
        }
    }
    conf_free(a->cfg);
    a->cfg = cfg;
    apply_log(cfg);
    mk_log(MK_LOG_INFO, "config.reloaded", "path=%s certificates=%zu", cfg->path, cfg->n_certs);
    return 0;
}

/* SIGHUP, also when mskpkictl reload asked for it: its callers hear the outcome. */
static void reload_and_answer(struct agent *a)
{
    struct mk_err err;
    int r;

    mk_err_clear(&err);
    r = reload(a, &err);
    if (a->control != NULL) {
        agent_control_reloaded(a->control, r == 0, err.msg);
    }
}

/* mskpkictl reload: the supervisor reloads its own copy (hooks) and sends SIGHUP. */
static int request_reload(void *arg)
{
    struct agent *a = arg;
    struct mk_err err;

    if (agent_ipc_send(a->sup_fd, AGENT_IPC_SUP_RELOAD, NULL, 0, &err) != 0) {
        mk_log_err("control.reload_failed", &err);
        return -1;
    }
    return 0;
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
            reload_and_answer(a);
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
             * timer; they move a libfaketime clock and send this instead (tests/reliability);
             * the supervisor forwards it. */
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

/* WATCHDOG=1 now, and remember when. */
static void watchdog_ping(struct agent *a)
{
    clock_gettime(CLOCK_MONOTONIC, &a->wd_last);
    sup_notify(a, "WATCHDOG=1");
}

/*
 * pki_keepalive()'s function: called from the waits of a rotation (polling backoff, rate limit,
 * retries, curl's progress callback), at least once a second.  The loop's watchdog timer cannot
 * fire while a rotation runs inline, so these calls keep systemd from killing an agent that is
 * only waiting for a slow Private CA.  Main thread only: the rotations run there.
 */
static void watchdog_keepalive(void *arg)
{
    struct agent *a = arg;
    struct timespec now;
    long long since;

    if (a->wd_half_usec == 0) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    since = (long long)(now.tv_sec - a->wd_last.tv_sec) * 1000000LL +
            (now.tv_nsec - a->wd_last.tv_nsec) / 1000L;
    if (since < 0 || (unsigned long long)since >= a->wd_half_usec) {
        watchdog_ping(a);
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
    a->wd_half_usec = usec;
    clock_gettime(CLOCK_MONOTONIC, &a->wd_last);
    pki_keepalive_set(watchdog_keepalive, a);
    return 0;
out:
    return -1;
}

static int run_loop(struct agent *a)
{
#ifdef MK_TESTING
    int probed = 0;
#endif
    struct mk_err err;
    time_t now;
    uint64_t ticks;

    now = time(NULL);
    for (size_t i = 0; i < a->n_certs; i++) {
        agent_cert_load(&a->ctx, &a->certs[i], now);
    }
    sup_notify(a, "READY=1");
    mk_log(MK_LOG_INFO, "agent.ready", "certificates=%zu metrics_port=%u", a->n_certs,
           agent_metrics_port(a->metrics));
    mk_log_echo(0); /* started: the start-up echo to stderr (main.c) ends here */
    while (!a->stop) {
        struct pollfd fds[4];

        now = time(NULL);
        for (size_t i = 0; i < a->n_certs && !a->stop; i++) {
            time_t d = agent_cert_deadline(&a->certs[i]);
            if (d != 0 && d <= now) {
                agent_iterate(&a->ctx, &a->certs[i], now);
                now = time(NULL);
            }
        }
        status_line(a, now);
#ifdef MK_TESTING
        if (!probed) {
            test_probes(a);
            /* Test builds: replay a compromised network process's attacks (hostile.h). */
            agent_hostile_run(&a->ctx, getenv("MSKPKI_TEST_HOSTILE"));
            probed = 1;
        }
#endif
        if (arm_timer(a, &err) != 0) {
            mk_log_err("agent.timer_failed", &err);
            return EXIT_FAIL;
        }
        fds[0] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = a->tfd, .events = POLLIN};
        /* poll() skips a negative descriptor: no watchdog, no control socket. */
        fds[2] = (struct pollfd){.fd = a->wdfd, .events = POLLIN};
        fds[3] = (struct pollfd){.fd = a->control != NULL ? agent_control_fd(a->control) : -1,
                                 .events = POLLIN};
        if (poll(fds, 4, -1) < 0) {
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
        if (fds[2].revents & POLLIN) {
            if (read(a->wdfd, &ticks, sizeof(ticks)) > 0) {
                watchdog_ping(a);
            }
        }
        if (fds[0].revents & POLLIN) {
            handle_signals(a);
        }
        if (fds[3].revents & POLLIN) {
            /* A renewal asked for here runs now, inline like any rotation. */
            agent_control_serve(a->control);
        }
    }
    sup_notify(a, "STOPPING=1");
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
        /* A hook that failed counts whether this run rotated or only ran it again. */
        if ((c->attempted && c->last_result != AGENT_RESULT_SUCCESS) || c->hook_failed ||
            c->state_failed) {
            /* A state file not written leaves `mskpkictl status` blind: not a success. */
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

/* systemd names the supervisor in WATCHDOG_PID; the pings go through it, so they are ours. */
static void adopt_watchdog_pid(void)
{
    const char *pid = getenv("WATCHDOG_PID");
    char buf[32];

    if (pid != NULL && pid[0] != '\0' && strtol(pid, NULL, 10) == (long)getppid()) {
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        (void)setenv("WATCHDOG_PID", buf, 1);
    }
}

int agent_netproc_main(const struct agent_netproc_args *args)
{
    pid_t parent = getppid();
    struct agent a;
    struct mk_err err;
    int rc = EXIT_FAIL;

    memset(&a, 0, sizeof(a));
    a.sigfd = a.tfd = a.wdfd = -1;
    a.cfg = args->cfg;
    a.sup_fd = args->sup_fd;
    a.ctx.key_fd = args->key_fd;
    a.ctx.sup_fd = args->sup_fd;
    (void)prctl(PR_SET_NAME, "mskpki-netproc", 0, 0, 0);
    adopt_watchdog_pid();
    /* Before any thread starts: Landlock binds the calling thread and what it creates, and the
     * fallback's unshare(CLONE_NEWUSER) refuses a multi-threaded process. */
    a.user = args->user;
    confine(a.cfg, &a.user, parent, deny_keys(a.cfg, &a.user));
#ifdef MK_TESTING
    if (getenv("MSKPKI_TEST_HOSTILE") != NULL) {
        (void)agent_hostile_fs_run(getenv("MSKPKI_TEST_HOSTILE"), a.cfg);
    }
#endif
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
    if (args->once || args->renew != NULL) {
        if (args->control_fd >= 0) {
            close(args->control_fd);
        }
        rc = run_once(&a, args->renew);
        goto out;
    }
    /* Signals are blocked before microhttpd starts its thread, which inherits the mask. */
    a.sigfd = agent_signals_open(0, &err);
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
        agent_metrics_listen(a.metrics, a.cfg->metrics_listen, &a.cfg->metrics, &err) != 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    if (args->control_fd >= 0) {
        struct agent_control_view v = {&a.ctx, &a.certs, &a.n_certs, request_reload, &a};
        a.control = agent_control_new(args->control_fd, &v);
        if (a.control == NULL) {
            close(args->control_fd);
            mk_log(MK_LOG_WARN, "control.unavailable", "msg=\"out of memory\"");
        }
    }
    mk_log(MK_LOG_INFO, "agent.start", "version=%s config=%s certificates=%zu", MSKPKI_VERSION,
           a.cfg->path, a.cfg->n_certs);
    rc = run_loop(&a);
out:
    pki_keepalive_set(NULL, NULL);
    agent_control_free(a.control);
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
    close(args->key_fd);
    close(args->sup_fd);
    return rc;
}
