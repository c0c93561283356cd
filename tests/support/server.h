/*
 * server.h: helper processes for tests (moto, fake services, brokers) on loopback ports.
 *
 * Servers bind port 0 themselves and write the port they got into a file once they listen
 * (mk_test_server_start_reporting()): a port picked free, released and then handed to a server
 * could be taken by another test in between.  A test always stops a server with
 * mk_test_server_stop().  Children get SIGTERM if the test process dies, so a crashed
 * test leaves no server behind.  This is the one start/stop helper: tests/aws/server.c builds
 * its fake_server.py and moto helpers on it.
 */
#ifndef MK_TEST_SERVER_H
#define MK_TEST_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct mk_test_server {
    pid_t pid; /* 0 when not running */
    int port;
};

/* Waits until 127.0.0.1:port accepts a connection.  When pid > 0, gives up early if that child
 * exits.  Returns 0, or -1 on timeout or exit. */
int mk_test_wait_port(int port, pid_t pid, long timeout_ms);

/*
 * Starts argv (argv[0] looked up in PATH) with the current environment; its stdout and stderr go
 * to log_path (appended) or are inherited when log_path is NULL.  The server binds port 0 and
 * writes the port it got (decimal) into port_file, atomically, once it listens.  Waits up to
 * timeout_ms for the file and the port; srv->port gets it.  Returns 0, or -1 (the child, if any,
 * is stopped) with a message on stderr.
 */
int mk_test_server_start_reporting(struct mk_test_server *srv, char *const argv[],
                                   const char *port_file, const char *log_path, long timeout_ms);

/* Starts argv (in its own process group, stdin from /dev/null) as the function above does,
 * without waiting for a port: for servers that report the port they bound.  Returns 0 or -1. */
int mk_test_server_spawn(struct mk_test_server *srv, char *const argv[], const char *log_path);

/* moto (tests/support/moto_server.py under $MSKPKI_SOURCE_DIR) on the port it picks; port_file
 * is where it reports it (a path in the test's temp dir); url (cap bytes) gets
 * http://127.0.0.1:PORT.  Returns 0 or -1. */
int mk_test_moto_start(struct mk_test_server *srv, const char *port_file, const char *log_path,
                       char *url, size_t cap);

/* SIGTERM to the server's process group, up to 5 s grace, then SIGKILL; reaps the child.  Safe
 * on a stopped server. */
void mk_test_server_stop(struct mk_test_server *srv);

/* Runs argv to completion and returns its stdout (NUL-terminated; stderr is inherited), or NULL
 * when it could not run or exited non-zero.  Caller frees with free(). */
char *mk_test_run_capture(char *const argv[]);

#endif
