/* ipc_pem.c: certificates and CSRs in IPC fields (see ipc_pem.h). */
#include "agent/ipc_pem.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "pki/cert.h"

/* Every certificate of s as PEM ("" for none).  Caller frees with free(). */
char *agent_ipc_certs_pem(STACK_OF(X509) * s, struct mk_err *err)
{
    char *all = calloc(1, 1);
    size_t len = 0;

    MK_ENSURE(all != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    for (int i = 0; i < sk_X509_num(s); i++) {
        size_t n = 0;
        char *pem = pki_certs_to_pem(sk_X509_value(s, i), NULL, &n, err);
        char *grown = pem != NULL ? realloc(all, len + n + 1) : NULL;
        if (grown == NULL) {
            free(pem);
            free(all);
            all = NULL;
            MK_ENSURE(0, err, MK_ERR_NOMEM, "ipc: out of memory");
        }
        all = grown;
        memcpy(all + len, pem, n);
        len += n;
        all[len] = '\0';
        free(pem);
    }
out:
    return all;
}

/* The certificates of a PEM field (none for an empty field).  Caller frees with
 * sk_X509_pop_free(s, X509_free). */
STACK_OF(X509) * agent_ipc_certs(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    STACK_OF(X509) *s = NULL;

    MK_ENSURE(i < m->n, err, MK_ERR_INVALID, "ipc: %s: field %zu missing",
              agent_ipc_op_name((int)m->op), i);
    if (m->f[i].len == 0) {
        s = sk_X509_new_null();
        MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    } else {
        s = pki_certs_from_mem(m->f[i].data, m->f[i].len, err);
    }
out:
    return s;
}

/* The first certificate of a PEM field.  Caller frees with X509_free(). */
X509 *agent_ipc_cert(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    STACK_OF(X509) *s = agent_ipc_certs(m, i, err);
    X509 *c = NULL;

    if (s != NULL) {
        c = sk_X509_shift(s);
        if (c == NULL) {
            mk_err_set(err, MK_ERR_INVALID, "ipc: %s: no certificate in field %zu",
                       agent_ipc_op_name((int)m->op), i);
        }
    }
    sk_X509_pop_free(s, X509_free);
    return c;
}

X509_REQ *agent_ipc_csr(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    X509_REQ *r = NULL;
    BIO *b = NULL;

    MK_ENSURE(i < m->n && m->f[i].len < (size_t)0x7fffffff, err, MK_ERR_INVALID,
              "ipc: %s: field %zu missing", agent_ipc_op_name((int)m->op), i);
    b = BIO_new_mem_buf(m->f[i].data, (int)m->f[i].len);
    MK_ENSURE(b != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    MK_ENSURE(r != NULL, err, MK_ERR_INVALID, "ipc: %s: field %zu is not a PEM CSR",
              agent_ipc_op_name((int)m->op), i);
out:
    BIO_free(b);
    return r;
}
