/*
 * keepalive.h: "still alive" calls from long waits deep in the libraries.
 *
 * A rotation runs inline in the network process's loop and can wait on the network for minutes
 * (Private CA's GetCertificate polling, rate limiting, retries' backoff, one slow HTTP answer).
 * Under systemd's watchdog the process must keep pinging meanwhile.  The libraries do not know
 * about systemd: their waits call pki_keepalive() at least once a second (sleeps are cut into
 * slices, curl's progress callback runs about once a second), and the agent installs the
 * function that decides whether a ping is due.  Without a function every call is a no-op.
 *
 * The function is process-wide and is called from whichever thread waits: the one installed must
 * be safe for that (the agent's is only reached from its main thread, the one that rotates).
 */
#ifndef PKI_KEEPALIVE_H
#define PKI_KEEPALIVE_H

/* Installs fn (NULL removes it); arg is passed to each call and must outlive the installation. */
void pki_keepalive_set(void (*fn)(void *arg), void *arg);

/* Calls the installed function, if any. */
void pki_keepalive(void);

/* Sleeps seconds (monotonic, resumed after EINTR) in slices of at most one second, calling
 * pki_keepalive() before each slice. */
void pki_keepalive_sleep(double seconds);

#endif
