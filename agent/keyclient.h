/*
 * keyclient.h: the calls by which the network process reaches the key process (keyproc.h) over
 * their socketpair (ipc.h); fd is the network process's end.  The network process's modules
 * (iterate.c, netproc.c) use these and never the key process's role file.
 */
#ifndef AGENT_KEYCLIENT_H
#define AGENT_KEYCLIENT_H

#include <stddef.h>

#include <openssl/x509.h>

#include "issue/issue.h"
#include "pki/ca.h"
#include "pki/err.h"

/* The current generation of name: its number and leaf (caller frees with X509_free).  On
 * failure -1 and detail is "unusable" (the directory or a secret file) or "read" (err.code
 * MK_ERR_NOTFOUND when there is no generation yet, else unreadable or mismatched files). */
int agent_keys_load(int fd, const char *name, unsigned long *generation, X509 **leaf,
                    char *detail, size_t detail_size, struct mk_err *err) MK_MUST_CHECK;

/* A CSR for the next key of name: the pending one when pending and one exists (*resumed = 1),
 * else the current one with reuse_key, else a fresh key (written as pending when pending).
 * Caller frees with X509_REQ_free(). */
X509_REQ *agent_keys_csr(int fd, const char *name, int pending, int *resumed,
                         struct mk_err *err) MK_MUST_CHECK;

/* Writes the issued certificate with the key of the last agent_keys_csr() as a new generation
 * (the key process checks that they match) and removes the pending key and CSR. */
int agent_keys_store(int fd, const char *name, X509 *leaf, STACK_OF(X509) *chain,
                     unsigned long *generation, struct mk_err *err) MK_MUST_CHECK;

/* Removes the pending key and CSR of name and forgets its prepared key (errors are logged). */
void agent_keys_drop(int fd, const char *name);

/* The key process as the key holder of the issuance transaction (issue.h): load, csr, store
 * and drop above, over fd, which must outlive out. */
void agent_keys_holder(const int *fd, struct issue_keys *out);

/* Makes the key process re-read its configuration file. */
int agent_keys_reload(int fd, struct mk_err *err) MK_MUST_CHECK;

/* The local CA, whose key stays in the key process: a proxy (pki_ca_proxy_new).  fd must
 * outlive it.  Caller frees with pki_ca_free(). */
struct pki_ca *agent_keys_local_ca(const int *fd, struct mk_err *err) MK_MUST_CHECK;

#ifdef MK_TESTING
/* Test builds: asks the key process to try what ("connect": a TCP connection to 127.0.0.1 at
 * the port given in arg).  Returns 0 and the errno of the attempt (0 = it worked) in *err_no. */
int agent_keys_test_probe(int fd, const char *what, const char *arg, int *err_no,
                          struct mk_err *err) MK_MUST_CHECK;
#endif

#endif
