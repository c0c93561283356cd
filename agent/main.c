/*
 * main.c: mskpki-agent, the supervisor (acme-client's split, see docs/design.md).
 *
 * It parses the command line, checks the configuration, then forks the two roles wired by a
 * socketpair: the key process (keyproc.c: keys, outputs, the local CA key; seccomp, no network)
 * and the network process (netproc.c: the state machine, the CA, metrics; Landlock, no keys).
 * It stays small and unsandboxed for what needs the whole system: it forwards signals to the
 * network process, relays its sd_notify lines (systemd listens to the main PID only), reads the
 * configuration on SIGHUP for the network process (AGENT_IPC_SUP_CONFIG), runs the
 * post-rotation hooks from its own copy of the configuration, and watches the children:
 *
 *   - a child that dies (a crash, a kill) is restarted with its peer, at most MAX_RESTARTS
 *     times in a row when each pair lives less than STABLE_SECONDS;
 *   - a child that misbehaves (a malformed message: AGENT_EXIT_PROTOCOL, an unexpected op, or
 *     death by seccomp's SIGSYS) stops everything: exit 1;
 *   - a network process that exits on its own (SIGTERM, --once, a start-up failure) ends the
 *     agent with its exit status once the key process has seen EOF and exited.
 *
 * The agent always runs in the foreground (systemd Type=notify, or a terminal); --foreground is
 * accepted for clarity and changes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/check.h"
#include <jansson.h>

#include "agent/control.h"
#include "agent/hook.h"
#include "agent/ipc.h"
#include "agent/keyproc.h"
#include "agent/netproc.h"
#include "agent/notify.h"
#include "agent/signals.h"
#include "conf/conf.h"
#include "conf/paths.h"
#include "issue/control.h"
#include "issue/issue.h"
#include "issue/lock.h"
#include "pki/log.h"
#include "pki/secret.h"

#define MAX_RESTARTS 5
#define STABLE_SECONDS 60

enum agent_exit { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_LOCKED = 3 };

struct sup {
    struct conf *cfg; /* the supervisor's own copy: hooks come from it */
    struct conf_agent_user user; /* the network process's user; owners of trusted paths */
    int once;         /* --once or --renew: no restarts */
    const char *renew;
    int sigfd;
    int net_fd; /* link to the network process; -1 once it closed */
    pid_t key_pid;
    pid_t net_pid;
    int net_status; /* wait status of the network process */
    int stopping;   /* SIGTERM/SIGINT seen */
    int restart;    /* the key process died: restart the pair once the network process is gone */
    int misbehaved;
    unsigned restarts;
    time_t started;
    struct agent_hook *hook; /* the hook running for the network process's SUP_HOOK, or NULL */
    char *conf_text;         /* the configuration file as read on SIGHUP, for SUP_CONFIG */
    int conf_failed;         /* that reload failed: SUP_CONFIG answers conf_err */
    struct timespec wd_last; /* last watchdog ping while a hook runs (CLOCK_MONOTONIC) */
    struct mk_err conf_err;
    int lock_fd;    /* <state_dir>/agent.lock, held to the end (issue/lock.h) */
    int control_fd; /* the daemon's listening control socket (agent/control.h), or -1 */
    char *control_path; /* where it is bound (a reload does not move it); owned */
};

/* How long a hook may take to end on SIGTERM before its group gets SIGKILL. */
#define HOOK_STOP_GRACE_MS 2000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mskpki-agent [--config FILE] [--foreground] [--once | --renew NAME |"
            " --check-config [--online] [--format text|json]]\n"
            "  --config FILE     configuration file (default " CONF_DEFAULT_PATH ")\n"
            "  --foreground      run in the foreground (the agent always does; for systemd"
            " Type=notify)\n"
            "  --once            renew what is due (missing, expired or past its renewal time),"
            " then exit\n"
            "                    0 when every attempt succeeded, else 1\n"
            "  --renew NAME      renew certificate NAME now, then exit (2: unknown name);"
            " a running\n"
            "                    daemon is asked to do it through its control socket\n"
            "  --check-config    check the configuration, its secret files, hooks and output"
            " parents:\n"
            "                    exit 0, or 2 naming each problem\n"
            "  --online          with --check-config: also resolve AWS credentials and describe"
            " the CA\n"
            "                    (ACTIVE, usage mode, expiry); exit 3 when only these fail\n"
            "  --format FMT      with --check-config: text (default) or json\n"
            "  --version         print the version\n"
            "  --help            this text\n"
            "signals: HUP reloads the configuration, TERM/INT stop, USR1 renews everything now\n"
            "exit 3: another mskpki-agent or mskpkictl cert issue holds the state directory's"
            " lock\n");
}

/* The state directory holds state files (0644) and pending CSRs: created 0755 when missing, as
 * mskpkictl status reads it unprivileged.  Done here, before the network process is sandboxed.
 * Started as root, the network process runs as agent.user: the directory and the records it
 * writes there (*.json) are handed to that user; nothing else it could write is. */
static int ensure_state_dir(const char *dir, const struct conf_agent_user *u, struct mk_err *err)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *de;
    int rc = -1;

    MK_ENSURE_ERRNO(mkdir(dir, 0755) == 0 || errno == EEXIST, err, MK_ERR_IO,
                    "state_dir %s: mkdir", dir);
    MK_ENSURE(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode), err, MK_ERR_IO,
              "state_dir %s: not a directory", dir);
    if (u->drop) {
        /* Through a descriptor that followed no link, like the files below. */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        MK_ENSURE_ERRNO(dfd >= 0, err, MK_ERR_IO, "state_dir %s: open", dir);
        d = fdopendir(dfd);
        if (d == NULL) {
            close(dfd);
        }
        MK_ENSURE_ERRNO(d != NULL, err, MK_ERR_IO, "state_dir %s: opendir", dir);
        MK_ENSURE_ERRNO(fchown(dfd, u->uid, u->gid) == 0 && fchmod(dfd, 0755) == 0, err,
                        MK_ERR_IO, "state_dir %s: hand it to agent.user %s", dir, u->name);
        while ((de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            int fd;
            if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0) {
                continue;
            }
            /* Through a descriptor, as the network process may be running (a reload): what is
             * checked is what is handed over.  One link only: a hard link it planted to a file
             * of root's (where protected_hardlinks is off) must not be given away with it. */
            fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) {
                continue;
            }
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
                st.st_uid != u->uid && fchown(fd, u->uid, u->gid) != 0) {
                mk_err_errno(err, MK_ERR_IO, "state_dir %s: chown %s", dir, de->d_name);
                close(fd);
                goto out;
            }
            close(fd);
        }
    }
    rc = 0;
out:
    if (d != NULL) {
        closedir(d);
    }
    return rc;
}

/*
 * --renew NAME while a daemon runs: the daemon renews it (its files, state and metrics stay one
 * truth) and this process reports the outcome.  Returns the exit status, or -1 when no daemon of
 * this state_dir answers (then this process renews it itself, under the lock).
 */
static int renew_through_daemon(const struct conf *cfg, const char *name)
{
    json_t *req = json_pack("{s:s, s:[s]}", "cmd", "renew", "names", name);
    json_t *ans = NULL;
    struct mk_err err;
    int rc = EXIT_FAIL;
    int r;

    if (req == NULL) {
        return -1;
    }
    r = issue_control_call(cfg->control_socket, cfg->state_dir, req, &ans, &err);
    if (r == 1) {
        rc = -1;
    } else if (r < 0) {
        fprintf(stderr, "mskpki-agent: --renew %s: %s\n", name, err.msg);
    } else {
        json_t *res = json_array_get(json_object_get(ans, "results"), 0);
        int ok = json_is_true(json_object_get(res, "renewed"));
        const char *e = json_string_value(json_object_get(res, "last_error"));
        const char *serial = json_string_value(json_object_get(res, "serial"));
        if (ok) {
            printf("mskpki-agent: --renew %s: renewed by the running agent, serial %s\n", name,
                   serial != NULL ? serial : "?");
        } else {
            fprintf(stderr, "mskpki-agent: --renew %s: failed in the running agent: %s\n", name,
                    e != NULL ? e : "see its log");
        }
        rc = ok ? EXIT_OK : EXIT_FAIL;
    }
    json_decref(ans);
    json_decref(req);
    return rc;
}

/* One writer per state_dir (issue/lock.h): EXIT_OK with the lock held, else the exit status. */
static int take_lock(struct sup *s)
{
    struct mk_err err;
    pid_t holder = 0;
    int r = issue_lock_take(s->cfg->state_dir, &s->lock_fd, &holder, &err);

    if (r < 0) {
        mk_log_err("agent.start_failed", &err);
        return EXIT_FAIL;
    }
    if (r == 1) {
        fprintf(stderr,
                "mskpki-agent: state_dir %s is in use by process %ld (another mskpki-agent or "
                "mskpkictl cert issue); not starting a second writer\n",
                s->cfg->state_dir, (long)holder);
        return EXIT_LOCKED;
    }
    return EXIT_OK;
}

static void apply_log(const struct conf *cfg)
{
    mk_log_setup(cfg->log_level, cfg->log_target, "mskpki-agent");
}

/* A child never outlives the supervisor: a killed agent (SIGKILL, OOM) must not go on writing
 * outputs behind the back of whoever restarts it. */
static void die_with_parent(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) {
        _exit(EXIT_FAIL);
    }
}

/* Forks the key process and the network process, linked by a socketpair. */
static int spawn(struct sup *s, struct mk_err *err)
{
    int kp[2] = {-1, -1};
    int sp[2] = {-1, -1};
    pid_t parent = getpid();
    int rc = -1;

    MK_ENSURE_ERRNO(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kp) == 0 &&
                        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0,
                    err, MK_ERR_IO, "agent: socketpair");
    s->key_pid = fork();
    MK_ENSURE_ERRNO(s->key_pid >= 0, err, MK_ERR_IO, "agent: fork (key process)");
    if (s->key_pid == 0) {
        die_with_parent(parent);
        close(kp[0]);
        close(sp[0]);
        close(sp[1]);
        close(s->sigfd);
        /* The lock stays held by the supervisor; the socket is the network process's. */
        close(s->lock_fd);
        if (s->control_fd >= 0) {
            close(s->control_fd);
        }
        exit(agent_keyproc_main(kp[1], s->cfg));
    }
    s->net_pid = fork();
    if (s->net_pid < 0) {
        mk_err_errno(err, MK_ERR_IO, "agent: fork (network process)");
        kill(s->key_pid, SIGKILL);
        goto out;
    }
    if (s->net_pid == 0) {
        struct agent_netproc_args args = {s->cfg, kp[0], sp[1], s->once, s->renew,
                                          {s->user.drop, s->user.uid, s->user.gid}, -1};
        die_with_parent(parent);
        close(s->lock_fd);
        /* This process's copy; the supervisor keeps its own across restarts of the pair. */
        args.control_fd = s->control_fd;
        close(kp[1]);
        close(sp[0]);
        close(s->sigfd);
        exit(agent_netproc_main(&args));
    }
    s->net_fd = sp[0];
    sp[0] = -1;
    s->started = time(NULL);
    s->restart = 0;
    mk_log(MK_LOG_INFO, "supervisor.started", "keyproc=%ld netproc=%ld", (long)s->key_pid,
           (long)s->net_pid);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (kp[i] >= 0) {
            close(kp[i]);
        }
        if (sp[i] >= 0) {
            close(sp[i]);
        }
    }
    return rc;
}

static void misbehave(struct sup *s, const char *who, const char *why)
{
    mk_log(MK_LOG_ERROR, "supervisor.misbehaviour", "process=%s msg=\"%s\"", who, why);
    s->misbehaved = 1;
    if (s->key_pid > 0) {
        kill(s->key_pid, SIGKILL);
    }
    if (s->net_pid > 0) {
        kill(s->net_pid, SIGKILL);
    }
}

/* Only these lines may reach systemd: never MAINPID= or the like from the network process. */
static int notify_allowed(const char *line)
{
    static const char *const ok[] = {"READY=1", "STATUS=", "WATCHDOG=1", "STOPPING=1"};

    if (strchr(line, '\n') != NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strncmp(line, ok[i], strlen(ok[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Runs the hook of the named block, as this process's configuration says. */
static int run_hook(struct sup *s, const struct agent_ipc_msg *m, struct mk_err *err)
{
    const struct conf_certificate *cc;
    struct agent_hook_spec hs;
    char cert_path[1024];
    char *name = NULL;
    long not_after = 0;
    int rc = -1;

    MK_GUARD_PTR(name = agent_ipc_str(m, 0, err));
    MK_GUARD(agent_ipc_long(m, 1, &not_after, err));
    cc = conf_find_certificate(s->cfg, name);
    MK_ENSURE(cc != NULL && cc->hook.argv != NULL, err, MK_ERR_NOTFOUND,
              "hook: no hook configured for '%s'", name);
    MK_ENSURE(issue_cert_path(cc, cert_path, sizeof(cert_path)) == 0, err, MK_ERR_INVALID,
              "hook: certificate path too long for '%s'", name);
    /* Checked again right before it runs: the file may have changed since the start. */
    if (conf_check_hook(s->cfg, cc, &s->user, err) != 0) {
        mk_log_err("hook.refused", err);
        goto out;
    }
    memset(&hs, 0, sizeof(hs));
    hs.argv = cc->hook.argv;
    hs.timeout_seconds = cc->hook.timeout_seconds;
    hs.name = cc->name;
    hs.cert_path = cert_path;
    hs.not_after = (time_t)not_after;
    /* The answer goes back when it ends (hook_check): meanwhile signals and children are
     * handled as ever.  A hook asked for after SIGTERM (the rotation in flight finishing)
     * still runs, within its timeout: only the one running when the signal arrives is ended. */
    s->hook = agent_hook_start(&hs, err);
    s->wd_last = (struct timespec){0}; /* hook_watchdog pings at once */
    if (s->hook == NULL) {
        goto out;
    }
    rc = 0;
out:
    free(name);
    return rc;
}

/*
 * Reads the configuration file for a reload.  The supervisor reads it for the network process
 * too (AGENT_IPC_SUP_CONFIG): Landlock allows files by inode, and an edit by rename (sed -i,
 * editors, Ansible) puts a new inode at the path that the sandbox does not allow, while allowing
 * the whole directory would let the network process read the secret files kept beside the
 * configuration.  Caller frees *text with free().
 */
static int read_conf_text(const char *path, char **text, struct mk_err *err)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    ssize_t r;
    int fd;
    int rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "%s: cannot open", path);
    MK_ENSURE_ERRNO(fstat(fd, &st) == 0, err, MK_ERR_IO, "%s: fstat", path);
    MK_ENSURE(S_ISREG(st.st_mode), err, MK_ERR_CONFIG, "%s: not a regular file", path);
    /* The text crosses to the network process in one IPC field. */
    MK_ENSURE(st.st_size < AGENT_IPC_MAX_BODY - 1024, err, MK_ERR_CONFIG,
              "%s: larger than %d bytes", path, AGENT_IPC_MAX_BODY - 1024);
    buf = malloc((size_t)st.st_size + 1);
    MK_ENSURE(buf != NULL, err, MK_ERR_NOMEM, "%s: out of memory", path);
    while (len < (size_t)st.st_size) {
        r = read(fd, buf + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        MK_ENSURE_ERRNO(r >= 0, err, MK_ERR_IO, "%s: read", path);
        if (r == 0) {
            break; /* shrunk meanwhile: what is there is the file */
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    MK_ENSURE(memchr(buf, '\0', len) == NULL, err, MK_ERR_CONFIG, "%s: contains a NUL byte",
              path);
    *text = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* AGENT_IPC_SUP_CONFIG: the text read on SIGHUP (once) or why that reload failed, else the file
 * as it is now. */
static void send_conf_text(struct sup *s)
{
    struct agent_ipc_field f[1];
    struct mk_err err;
    struct mk_err serr;
    char *text = s->conf_text;
    int r;

    s->conf_text = NULL;
    mk_err_clear(&err);
    if (s->conf_failed) {
        s->conf_failed = 0;
        r = agent_ipc_send_err(s->net_fd, &s->conf_err, NULL, &serr);
    } else if (text == NULL && read_conf_text(s->cfg->path, &text, &err) != 0) {
        r = agent_ipc_send_err(s->net_fd, &err, NULL, &serr);
    } else {
        f[0] = agent_ipc_s(text);
        r = agent_ipc_send(s->net_fd, AGENT_IPC_OK, f, 1, &serr);
    }
    if (r != 0) {
        mk_log_err("supervisor.reply_failed", &serr);
    }
    free(text);
}
static void reload(struct sup *s);

/* One message from the network process. */
static void net_message(struct sup *s)
{
    struct agent_ipc_msg m = {0};
    struct mk_err err;
    struct mk_err serr;
    char *line = NULL;
    int r = agent_ipc_recv(s->net_fd, &m, &err);

    if (r <= 0) {
        if (r < 0 && err.code == MK_ERR_INVALID) {
            misbehave(s, "netproc", err.msg);
        }
        close(s->net_fd); /* EOF: it is on its way out; the exit status tells why */
        s->net_fd = -1;
        return;
    }
    switch (m.op) {
    case AGENT_IPC_SUP_NOTIFY:
        line = agent_ipc_str(&m, 0, &err);
        if (line == NULL || !notify_allowed(line)) {
            misbehave(s, "netproc", "a notify line that is not READY, STATUS, WATCHDOG or STOPPING");
        } else if (strcmp(line, "STOPPING=1") == 0 && !s->stopping) {
            /* A network process stopped for a restart: the agent itself goes on. */
        } else {
            if (strcmp(line, "READY=1") == 0 && !s->once) {
                mk_log_echo(0); /* started: syslog alone from now on */
            }
            if (agent_notify(line, &err) != 0) {
                mk_log_err("notify.failed", &err);
            }
        }
        break;
    case AGENT_IPC_SUP_CONFIG:
        send_conf_text(s);
        break;
    case AGENT_IPC_SUP_RELOAD:
        /* mskpkictl reload: what SIGHUP does; the network process answers the caller. */
        reload(s);
        if (s->net_pid > 0 && !s->once) {
            kill(s->net_pid, SIGHUP);
        }
        break;
    case AGENT_IPC_SUP_HOOK:
        mk_err_clear(&err);
        if (s->hook != NULL) {
            /* The network process waits for each answer: a second request is a protocol
             * violation. */
            misbehave(s, "netproc", "a hook request while a hook runs");
            break;
        }
        if (run_hook(s, &m, &err) != 0 && agent_ipc_send_err(s->net_fd, &err, NULL, &serr) != 0) {
            mk_log_err("supervisor.reply_failed", &serr);
        }
        break;
    default:
        misbehave(s, "netproc", "an op that is not the supervisor's");
        break;
    }
    free(line);
    agent_ipc_msg_clear(&m);
}

/* The running hook ended (or must be ended): answer the network process. */
static void hook_check(struct sup *s)
{
    struct mk_err err;
    struct mk_err serr;
    int r;

    if (s->hook == NULL) {
        return;
    }
    mk_err_clear(&err);
    r = agent_hook_poll(s->hook, &err);
    if (r == 0) {
        return;
    }
    agent_hook_free(s->hook);
    s->hook = NULL;
    if (s->net_fd < 0) {
        return; /* the network process is gone: nobody to tell */
    }
    r = r == 1 ? agent_ipc_send(s->net_fd, AGENT_IPC_OK, NULL, 0, &serr)
               : agent_ipc_send_err(s->net_fd, &err, NULL, &serr);
    if (r != 0) {
        mk_log_err("supervisor.reply_failed", &serr);
    }
}

static void reload(struct sup *s)
{
    struct mk_err err;
    struct conf *cfg = NULL;

    free(s->conf_text);
    s->conf_text = NULL;
    s->conf_failed = 0;
    if (read_conf_text(s->cfg->path, &s->conf_text, &err) != 0 ||
        (cfg = conf_load_text(s->cfg->path, s->conf_text, &err)) == NULL ||
        conf_check_paths(cfg, &s->user, &err) != 0 ||
        ensure_state_dir(cfg->state_dir, &s->user, &err) != 0) {
        /* Both keep the old configuration (this process its hooks, the network process the
         * rest), and the network process reports why, once, when it asks for the text. */
        s->conf_failed = 1;
        s->conf_err = err;
        free(s->conf_text);
        s->conf_text = NULL;
        conf_free(cfg);
        return;
    }
    conf_free(s->cfg);
    s->cfg = cfg;
    apply_log(cfg);
}

/* Reaps the two roles only: the running hook is agent_hook_poll's to reap. */
static void reap(struct sup *s)
{
    int st;

    if (s->net_pid > 0 && waitpid(s->net_pid, &st, WNOHANG) == s->net_pid) {
        s->net_pid = 0;
        s->net_status = st;
    }
    if (s->key_pid <= 0 || waitpid(s->key_pid, &st, WNOHANG) != s->key_pid) {
        return;
    }
    s->key_pid = 0;
    if ((WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) ||
        (WIFEXITED(st) && WEXITSTATUS(st) == AGENT_EXIT_PROTOCOL)) {
        misbehave(s, "keyproc", WIFSIGNALED(st) ? "killed by seccomp" : "protocol error");
    } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && s->net_pid > 0) {
        mk_log(MK_LOG_ERROR, "supervisor.child_died", "process=keyproc status=%d", st);
        /* The network process may sleep for hours before it next needs a key. */
        s->restart = 1;
        kill(s->net_pid, SIGTERM);
    }
}

static void handle_signals(struct sup *s)
{
    struct mk_err err;
    int signo;

    while (agent_signals_read(s->sigfd, &signo, &err) == 1) {
        switch (signo) {
        case SIGCHLD:
            reap(s);
            break;
        case SIGHUP:
            reload(s);
            /* The network process reloads too. */
            if (s->net_pid > 0 && !s->once) {
                kill(s->net_pid, signo);
            }
            break;
        case SIGUSR1:
#ifdef MK_TESTING
        case SIGUSR2:
#endif
            if (s->net_pid > 0 && !s->once) {
                kill(s->net_pid, signo);
            }
            break;
        case SIGTERM:
        case SIGINT:
            s->stopping = 1;
            /* The hook first: the network process waits for its answer before it stops. */
            if (s->hook != NULL) {
                mk_log(MK_LOG_INFO, "hook.stopping", "pid=%ld", (long)agent_hook_pid(s->hook));
                agent_hook_end(s->hook, HOOK_STOP_GRACE_MS);
            }
            if (s->net_pid > 0) {
                /* --once has no signal handling to finish a step with. */
                kill(s->net_pid, s->once ? SIGKILL : signo);
            }
            break;
        default:
            break;
        }
    }
}

/* Both children are gone: restart them (0) or end with an exit status (> 0 or EXIT_OK). */
static int decide(struct sup *s, int *exit_status)
{
    int st = s->net_status;
    int died = WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == AGENT_EXIT_PEER_LOST);

    if (s->misbehaved || (WIFEXITED(st) && WEXITSTATUS(st) == AGENT_EXIT_PROTOCOL)) {
        *exit_status = EXIT_FAIL;
        return 1;
    }
    if (WIFEXITED(st) && !died && !s->restart) {
        *exit_status = WEXITSTATUS(st);
        return 1;
    }
    if (s->stopping || s->once) {
        *exit_status = s->stopping && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? EXIT_OK : EXIT_FAIL;
        return 1;
    }
    s->restarts = time(NULL) - s->started >= STABLE_SECONDS ? 1 : s->restarts + 1;
    if (s->restarts > MAX_RESTARTS) {
        mk_log(MK_LOG_ERROR, "supervisor.giving_up", "restarts=%u", s->restarts - 1);
        *exit_status = EXIT_FAIL;
        return 1;
    }
    mk_log(MK_LOG_WARN, "supervisor.restart", "status=%d restarts=%u", st, s->restarts);
    return 0;
}

/*
 * While a hook runs the network process waits for its answer and cannot feed the watchdog (a
 * hook may take up to its timeout): the supervisor pings for it at half the interval.  Returns
 * the poll timeout, shortened to the next ping.
 */
static int hook_watchdog(struct sup *s, int timeout)
{
    unsigned long long half_ms = agent_notify_watchdog_usec() / 2000ULL;
    struct timespec now;
    long long since_ms;
    struct mk_err err;

    if (half_ms == 0) {
        return timeout;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    since_ms = (long long)(now.tv_sec - s->wd_last.tv_sec) * 1000LL +
               (now.tv_nsec - s->wd_last.tv_nsec) / 1000000L;
    if (since_ms >= (long long)half_ms) {
        if (agent_notify("WATCHDOG=1", &err) != 0) {
            mk_log_err("notify.failed", &err);
        }
        s->wd_last = now;
        since_ms = 0;
    }
    if (timeout < 0 || (long long)timeout > (long long)half_ms - since_ms) {
        timeout = (int)((long long)half_ms - since_ms);
    }
    return timeout;
}

static int supervise(struct sup *s)
{
    struct mk_err err;
    int status = EXIT_FAIL;

    for (;;) {
        if (spawn(s, &err) != 0) {
            mk_log_err("agent.start_failed", &err);
            return EXIT_FAIL;
        }
        while (s->key_pid > 0 || s->net_pid > 0) {
            struct pollfd fds[3] = {{.fd = s->sigfd, .events = POLLIN},
                                    {.fd = s->net_fd, .events = POLLIN},
                                    {.fd = -1, .events = POLLIN}};
            int timeout = -1;
            if (s->hook != NULL) {
                fds[2].fd = agent_hook_fd(s->hook);
                timeout = agent_hook_wait_ms(s->hook);
                timeout = hook_watchdog(s, timeout);
            }
            if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
                mk_err_errno(&err, MK_ERR_IO, "agent: poll");
                mk_log_err("agent.poll_failed", &err);
                misbehave(s, "supervisor", "poll failed");
                continue;
            }
            if (s->net_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
                net_message(s);
            }
            if (fds[0].revents & POLLIN) {
                handle_signals(s);
            }
            hook_check(s);
        }
        if (s->hook != NULL) {
            /* Both roles are gone: nobody waits for the hook any more. */
            mk_log(MK_LOG_WARN, "hook.abandoned", "pid=%ld", (long)agent_hook_pid(s->hook));
            agent_hook_free(s->hook);
            s->hook = NULL;
        }
        if (s->net_fd >= 0) {
            close(s->net_fd);
            s->net_fd = -1;
        }
        if (decide(s, &status)) {
            return status;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
        {"once", no_argument, NULL, 'o'},         {"check-config", no_argument, NULL, 'k'},
        {"renew", required_argument, NULL, 'r'},  {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {"online", no_argument, NULL, 'O'},
        {"format", required_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
    const char *config = CONF_DEFAULT_PATH;
    const char *renew = NULL;
    int once = 0;
    int check = 0;
    int online = 0;
    int json = -1; /* --format: -1 not given, 0 text, 1 json */
    struct sup s;
    struct mk_err err;
    int opt;
    int rc = EXIT_FAIL;

    memset(&s, 0, sizeof(s));
    s.sigfd = s.net_fd = s.lock_fd = s.control_fd = -1;
    while ((opt = getopt_long(argc, argv, "c:fokr:VhOF:", opts, NULL)) != -1) {
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
        case 'O':
            online = 1;
            break;
        case 'F':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "mskpki-agent: --format: '%s' is not text or json\n", optarg);
                return EXIT_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
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
    if (!check && (online || json >= 0)) {
        fprintf(stderr, "mskpki-agent: --online and --format go with --check-config\n");
        return EXIT_USAGE;
    }
    if (check) {
        return agent_check_config(config, online, json > 0);
    }

    /* Scrapes of a thousand certificates' metrics build megabyte buffers in the network
     * process; glibc's default raises its mmap threshold after the first is freed, and later
     * ones then stay resident in the heap.  A fixed threshold returns every such buffer to the
     * kernel when it is freed (inherited by both children). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    s.cfg = conf_load(config, &err);
    if (s.cfg == NULL) {
        fprintf(stderr, "mskpki-agent: %s\n", err.msg);
        return EXIT_USAGE;
    }
    /* Who the network process runs as, and whether hooks and directories can be trusted: a
     * refusal is a configuration error (exit 2), for --check-config and at start alike. */
    if (conf_check_local_ca_moved(s.cfg, &err) != 0 ||
        conf_agent_user_resolve(s.cfg, &s.user, &err) != 0 ||
        conf_check_paths(s.cfg, &s.user, &err) != 0) {
        fprintf(stderr, "mskpki-agent: %s\n", err.msg);
        conf_free(s.cfg);
        return EXIT_USAGE;
    }
    if (renew != NULL && conf_find_certificate(s.cfg, renew) == NULL) {
        fprintf(stderr, "mskpki-agent: --renew: no certificate named '%s' in %s\n", renew, config);
        conf_free(s.cfg);
        return EXIT_USAGE;
    }
    apply_log(s.cfg);
    /* Until the daemon is ready (for --once and --renew, to the end), warnings and errors also
     * reach stderr with log.target = "syslog": a failed start must not be silent on a terminal.
     * The children inherit it. */
    mk_log_echo(1);
    /* libconfig's parse tree is freed by now, but glibc keeps the freed pages of the heap
     * resident (they lie below the strings the configuration keeps), and both children would
     * inherit them: a few KiB per certificate, three times over.  Give them back before fork. */
    malloc_trim(0);
    if (pki_sodium_init(&err) != 0 || ensure_state_dir(s.cfg->state_dir, &s.user, &err) != 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    if (renew != NULL) {
        int r = renew_through_daemon(s.cfg, renew);
        if (r >= 0) {
            rc = r;
            goto out;
        }
    }
    rc = take_lock(&s);
    if (rc != EXIT_OK) {
        goto out;
    }
    rc = EXIT_FAIL;
    if (!once && renew == NULL && s.cfg->control_socket[0] != '\0') {
        /* Without it the agent still does its work: only mskpkictl renew/reload/status --live
         * and the hand-over of cert issue are lost. */
        s.control_fd =
            agent_control_listen(s.cfg->control_socket, s.user.drop ? 0 : geteuid(),
                                 s.user.drop ? s.user.gid : getegid(), &err);
        if (s.control_fd < 0) {
            mk_log_err("control.unavailable", &err);
        } else if ((s.control_path = strdup(s.cfg->control_socket)) == NULL) {
            close(s.control_fd);
            s.control_fd = -1;
        }
    }
    s.once = once || renew != NULL;
    s.renew = renew;
    /* HUP TERM INT USR1 and CHLD through a signalfd; the children inherit the blocked mask and
     * open their own (netproc) or ignore them (keyproc ends on EOF). */
    s.sigfd = agent_signals_open(SIGCHLD, &err);
    if (s.sigfd < 0) {
        mk_log_err("agent.start_failed", &err);
        goto out;
    }
    rc = supervise(&s);
out:
    if (s.sigfd >= 0) {
        close(s.sigfd);
    }
    free(s.conf_text);
    if (s.control_fd >= 0) {
        /* Ours to remove: the lock kept any other agent of this state_dir out. */
        close(s.control_fd);
        (void)unlink(s.control_path);
    }
    free(s.control_path);
    if (s.lock_fd >= 0) {
        close(s.lock_fd);
    }
    conf_free(s.cfg);
    return rc;
}
