/*
 * server.h: starts and stops the local servers the aws/ tests talk to (moto, fake_server.py),
 * always on 127.0.0.1, on a port they bind themselves.  Test-only; built on tests/support/server.h.
 */
#ifndef TESTS_AWS_SERVER_H
#define TESTS_AWS_SERVER_H

#include <stddef.h>

#include "tests/support/files.h"
#include "tests/support/server.h"

struct test_server {
    struct mk_test_server srv;
    char dir[256]; /* temp dir for the port file; removed by test_server_stop() */
    char url[64];  /* http://127.0.0.1:PORT */
};

/* tests/aws/fake_server.py.  Returns 0 or -1 (message on stderr). */
int test_server_start_fake(struct test_server *s);
/* The same over HTTPS with cert/key (PEM files); url is then https://127.0.0.1:PORT. */
int test_server_start_fake_tls(struct test_server *s, const char *cert, const char *key);
/* moto on the port it picks (tests/support/moto_server.py); waits until it answers. */
int test_server_start_moto(struct test_server *s);
/* Stops the server (SIGTERM, then SIGKILL) and removes its directory.  Safe twice. */
void test_server_stop(struct test_server *s);

/* Writes text to dir/name with mode; returns 0 or -1.  path (may be NULL) gets the full path. */
int test_write_file(const char *dir, const char *name, const char *text, int mode, char *path,
                    size_t cap);

#endif
