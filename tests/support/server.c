/* server.c: see server.h. */
#include "tests/support/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int port_open(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok;

    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int mk_test_wait_port(int port, pid_t pid, long timeout_ms)
{
    long end = now_ms() + timeout_ms;

    for (;;) {
        if (port_open(port)) {
            return 0;
        }
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "test server (pid %d) exited before port %d opened\n", (int)pid, port);
            return -1;
        }
        if (now_ms() >= end) {
            fprintf(stderr, "test server: port %d not open after %ld ms\n", port, timeout_ms);
            return -1;
        }
        nap_ms(50);
    }
}

int mk_test_server_spawn(struct mk_test_server *srv, char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid;

    srv->pid = 0;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

        /* Die with the test: a crashed test must not leave a server listening. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127);
        }
        /* Own process group, so that stopping the server also stops any worker it forked. */
        setpgid(0, 0);
        if (in >= 0) {
            dup2(in, STDIN_FILENO);
        }
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    /* Also here, so that a stop right after the spawn cannot miss the group. */
    setpgid(pid, pid);
    srv->pid = pid;
    return 0;
}

/* The port a server wrote into port_file, or 0 when it has not (yet). */
static int read_port_file(const char *port_file)
{
    int port = 0;
    FILE *fp = fopen(port_file, "r");

    if (fp != NULL) {
        char buf[16] = "";

        if (fgets(buf, sizeof(buf), fp) != NULL) {
            port = (int)strtol(buf, NULL, 10);
        }
        fclose(fp);
    }
    return port > 0 && port <= 65535 ? port : 0;
}

int mk_test_server_start_reporting(struct mk_test_server *srv, char *const argv[],
                                   const char *port_file, const char *log_path, long timeout_ms)
{
    long end = now_ms() + timeout_ms;

    srv->port = 0;
    unlink(port_file);
    if (mk_test_server_spawn(srv, argv, log_path) != 0) {
        return -1;
    }
    while ((srv->port = read_port_file(port_file)) == 0) {
        if (waitpid(srv->pid, NULL, WNOHANG) == srv->pid) {
            fprintf(stderr, "test server %s exited before it reported its port\n", argv[0]);
            srv->pid = 0;
            return -1;
        }
        if (now_ms() >= end) {
            fprintf(stderr, "test server %s: no port in %s after %ld ms\n", argv[0], port_file,
                    timeout_ms);
            mk_test_server_stop(srv);
            return -1;
        }
        nap_ms(20);
    }
    if (mk_test_wait_port(srv->port, srv->pid, end - now_ms() > 0 ? end - now_ms() : 1) != 0) {
        /* mk_test_wait_port may have reaped an exited child already. */
        if (kill(srv->pid, 0) == 0) {
            mk_test_server_stop(srv);
        }
        srv->pid = 0;
        return -1;
    }
    return 0;
}

int mk_test_moto_start(struct mk_test_server *srv, const char *port_file, const char *log_path,
                       char *url, size_t cap)
{
    const char *src = getenv("MSKPKI_SOURCE_DIR");
    char script[1024];
    char *argv[] = {"python3", script, (char *)port_file, NULL};

    snprintf(script, sizeof(script), "%s/tests/support/moto_server.py", src != NULL ? src : ".");
    if (mk_test_server_start_reporting(srv, argv, port_file, log_path, 60000) != 0) {
        fprintf(stderr, "moto did not start\n");
        return -1;
    }
    snprintf(url, cap, "http://127.0.0.1:%d", srv->port);
    return 0;
}

/* Signals the server's process group (or the server alone when it has none yet). */
static void signal_server(pid_t pid, int sig)
{
    if (kill(-pid, sig) != 0) {
        kill(pid, sig);
    }
}

void mk_test_server_stop(struct mk_test_server *srv)
{
    long end;

    if (srv == NULL || srv->pid <= 0) {
        return;
    }
    signal_server(srv->pid, SIGTERM);
    end = now_ms() + 5000;
    for (;;) {
        pid_t r = waitpid(srv->pid, NULL, WNOHANG);

        if (r == srv->pid || (r < 0 && errno == ECHILD)) {
            break;
        }
        if (now_ms() >= end) {
            signal_server(srv->pid, SIGKILL);
            waitpid(srv->pid, NULL, 0);
            break;
        }
        nap_ms(20);
    }
    srv->pid = 0;
}

char *mk_test_run_capture(char *const argv[])
{
    int fds[2];
    pid_t pid;
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    int status = 0;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        return NULL;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap == 0 ? 4096 : cap * 2);

            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap = cap == 0 ? 4096 : cap * 2;
        }
        n = read(fds[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (buf == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
