/* server.c: local test servers for the aws/ tests; see server.h. */
#include "tests/aws/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int test_write_file(const char *dir, const char *name, const char *text, int mode, char *path,
                    size_t cap)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (path != NULL) {
        snprintf(path, cap, "%s", p);
    }
    return mk_test_write_file(p, text, strlen(text), (mode_t)mode);
}

static int start_fake(struct test_server *s, const char *cert, const char *key)
{
    char script[512];
    char port_file[512];
    memset(s, 0, sizeof(*s));
    if (mk_test_tmpdir(s->dir, sizeof(s->dir), "aws-test") != 0) {
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
    /* The fake binds port 0 itself and reports the port: no race for a free port. */
    if (mk_test_server_start_reporting(&s->srv, argv, port_file, "/dev/null", 30000) != 0) {
        fprintf(stderr, "fake_server.py did not start\n");
        test_server_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", cert != NULL ? "https" : "http",
             s->srv.port);
    return 0;
}

int test_server_start_fake(struct test_server *s)
{
    return start_fake(s, NULL, NULL);
}

int test_server_start_fake_tls(struct test_server *s, const char *cert, const char *key)
{
    return start_fake(s, cert, key);
}

int test_server_start_moto(struct test_server *s)
{
    char port_file[512];
    memset(s, 0, sizeof(*s));
    if (mk_test_tmpdir(s->dir, sizeof(s->dir), "aws-test") != 0) {
        return -1;
    }
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    if (mk_test_moto_start(&s->srv, port_file, "/dev/null", s->url, sizeof(s->url)) != 0) {
        test_server_stop(s);
        return -1;
    }
    return 0;
}

void test_server_stop(struct test_server *s)
{
    mk_test_server_stop(&s->srv);
    mk_test_rmtree(s->dir);
    s->dir[0] = '\0';
}
