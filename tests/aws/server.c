/* server.c: local test servers for the aws/ tests; see server.h. */
#include "tests/aws/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int test_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/mskpki-aws-test-XXXXXX");
    return mkdtemp(out) != NULL ? 0 : -1;
}

void test_rmdir(const char *dir)
{
    if (dir == NULL || dir[0] == '\0' || strncmp(dir, "/tmp/mskpki-aws-test-", 21) != 0) {
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
}

int test_write_file(const char *dir, const char *name, const char *text, int mode, char *path,
                    size_t cap)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    fchmod(fd, (mode_t)mode);
    close(fd);
    if (path != NULL) {
        snprintf(path, cap, "%s", p);
    }
    return ok ? 0 : -1;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        /* Own process group, so stopping it also stops any worker it forked. */
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int connect_ok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int start_fake(struct test_server *s, const char *cert, const char *key);

int test_server_start_fake(struct test_server *s)
{
    return start_fake(s, NULL, NULL);
}

int test_server_start_fake_tls(struct test_server *s, const char *cert, const char *key)
{
    return start_fake(s, cert, key);
}

static int start_fake(struct test_server *s, const char *cert, const char *key)
{
    char script[512];
    char port_file[512];
    memset(s, 0, sizeof(*s));
    if (test_tmpdir(s->dir, sizeof(s->dir)) != 0) {
        return -1;
    }
    const char *src = getenv("MSKPKI_SOURCE_DIR");
    snprintf(script, sizeof(script), "%s/tests/aws/fake_server.py", src != NULL ? src : ".");
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    char *argv[] = {"python3",
                    script,
                    "--port-file",
                    port_file,
                    "--lifetime",
                    "300",
                    cert != NULL ? "--cert" : NULL,
                    (char *)cert,
                    "--key",
                    (char *)key,
                    NULL};
    s->pid = spawn(argv);
    for (int i = 0; i < 200 && s->port == 0; i++) {
        FILE *fp = fopen(port_file, "r");
        if (fp != NULL) {
            char buf[16] = "";
            if (fgets(buf, sizeof(buf), fp) != NULL) {
                s->port = (int)strtol(buf, NULL, 10);
            }
            fclose(fp);
        }
        if (s->port == 0) {
            pause_ms(50);
        }
    }
    if (s->port <= 0) {
        fprintf(stderr, "fake_server.py did not start\n");
        test_server_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", cert != NULL ? "https" : "http", s->port);
    return 0;
}

int test_server_start_moto(struct test_server *s)
{
    memset(s, 0, sizeof(*s));
    if (test_tmpdir(s->dir, sizeof(s->dir)) != 0) {
        return -1;
    }
    for (int tries = 0; tries < 3; tries++) {
        int port = free_port();
        char portstr[16];
        snprintf(portstr, sizeof(portstr), "%d", port);
        char *argv[] = {"python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", portstr, NULL};
        s->pid = spawn(argv);
        for (int i = 0; i < 300; i++) {
            if (connect_ok(port)) {
                s->port = port;
                snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", port);
                return 0;
            }
            int status;
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                s->pid = 0;
                break; /* port taken meanwhile: try another */
            }
            pause_ms(100);
        }
        if (s->pid > 0) {
            kill(-s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
    }
    fprintf(stderr, "moto.server did not start\n");
    test_server_stop(s);
    return -1;
}

void test_server_stop(struct test_server *s)
{
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
                s->pid = 0;
                break;
            }
            pause_ms(50);
        }
        if (s->pid > 0) {
            kill(-s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
    }
    s->pid = 0;
    test_rmdir(s->dir);
    s->dir[0] = '\0';
}
