/*
 * ipc_pem.h: certificates and CSRs carried in the PEM fields of IPC messages (ipc.h), shared by
 * both ends of the key process's link: the key process (keyproc.c) and its client in the network
 * process (keyclient.c).
 */
#ifndef AGENT_IPC_PEM_H
#define AGENT_IPC_PEM_H

#include <openssl/x509.h>

#include "agent/ipc.h"
#include "pki/err.h"

/* Every certificate of s as PEM ("" for none).  Caller frees with free(). */
char *agent_ipc_certs_pem(STACK_OF(X509) * s, struct mk_err *err) MK_MUST_CHECK;

/* The certificates of PEM field i of m (none for an empty field).  Caller frees with
 * sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) * agent_ipc_certs(const struct agent_ipc_msg *m, size_t i,
                                 struct mk_err *err) MK_MUST_CHECK;

/* The first certificate of PEM field i of m.  Caller frees with X509_free(). */
X509 *agent_ipc_cert(const struct agent_ipc_msg *m, size_t i, struct mk_err *err) MK_MUST_CHECK;

/* The PEM CSR of field i of m.  Caller frees with X509_REQ_free(). */
X509_REQ *agent_ipc_csr(const struct agent_ipc_msg *m, size_t i, struct mk_err *err) MK_MUST_CHECK;

#endif
