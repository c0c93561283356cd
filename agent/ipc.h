/*
 * ipc.h: the messages between the agent's processes (see docs/design.md).
 *
 *   supervisor (main.c)  forks and restarts the two roles, runs hooks, relays sd_notify
 *   keyproc.c            owns keys, output directories and the local CA key; no network
 *   netproc.c            the state machine, the CA over the network, metrics; never a key
 *
 * Each pair talks over a socketpair(AF_UNIX, SOCK_STREAM) in frames of version 1:
 *
 *   u8 version (1) | u8 op | u16 field count | u32 body length | body
 *   body = field count x (u32 length | bytes)          (integers big-endian)
 *
 * A request gets exactly one reply, AGENT_IPC_OK or AGENT_IPC_ERR (fields: code as decimal
 * mk_code, message, optional detail), except AGENT_IPC_SUP_NOTIFY and AGENT_IPC_SUP_RELOAD, which
 * have none.  Fields are bytes; strings carry no NUL; numbers are decimal text.  Private keys never cross: the key
 * process sends CSRs out and receives certificates.  A peer that sends a malformed frame or an
 * unexpected op is misbehaving: the receiver exits with AGENT_EXIT_PROTOCOL.
 */
#ifndef AGENT_IPC_H
#define AGENT_IPC_H

#include <stddef.h>

#include "pki/err.h"

#define AGENT_IPC_VERSION 1
#define AGENT_IPC_HEADER 8
#define AGENT_IPC_MAX_FIELDS 8
#define AGENT_IPC_MAX_BODY (1024 * 1024)

/* Exit status of a role that saw its peer misbehave (the supervisor then stops everything). */
#define AGENT_EXIT_PROTOCOL 3
/* Exit status of netproc when the key process went away (the supervisor restarts both). */
#define AGENT_EXIT_PEER_LOST 4

enum agent_ipc_op {
    AGENT_IPC_OK,  /* reply: fields depend on the request */
    AGENT_IPC_ERR, /* reply: code, message, detail */
    /* netproc -> keyproc */
    AGENT_IPC_KEY_LOAD,   /* name -> generation, leaf PEM; ERR detail "unusable" or "read" */
    AGENT_IPC_KEY_CSR,    /* name, pending(0/1) -> CSR PEM, resumed(0/1) */
    AGENT_IPC_KEY_STORE,  /* name, leaf PEM, chain PEM -> generation */
    AGENT_IPC_KEY_DROP,   /* name -> (removes the pending key and CSR, forgets the new key) */
    AGENT_IPC_KEY_RELOAD, /* -> (the key process re-reads its configuration file) */
    AGENT_IPC_CA_ISSUE,   /* local CA: CSR PEM, validity seconds -> leaf PEM, chain PEM */
    AGENT_IPC_CA_ANCHORS, /* local CA: -> PEM of the trust anchors */
    AGENT_IPC_CA_REVOKE,  /* local CA: certificate PEM, reason -> */
    AGENT_IPC_TEST_PROBE, /* test builds only: what, argument -> errno as decimal text */
    /* netproc -> supervisor */
    AGENT_IPC_SUP_NOTIFY, /* one sd_notify line; no reply */
    AGENT_IPC_SUP_HOOK,   /* name, not_after -> (the supervisor runs the configured hook) */
    /* netproc -> keyproc, IAM Roles Anywhere (agent/keysign.c) */
    AGENT_IPC_KEY_RA_CERT, /* name -> leaf PEM, intermediates PEM; ERR detail "none" */
    AGENT_IPC_KEY_RA_SIGN, /* name, amz_date, region, creq_hash, serial -> signature bytes */
    AGENT_IPC_SUP_CONFIG, /* -> the configuration file's text, as the supervisor read it on
                           * SIGHUP (the sandbox may hide a file replaced by rename) */
    AGENT_IPC_SUP_RELOAD, /* no reply: reload as on SIGHUP (mskpkictl reload; control.h) */
    AGENT_IPC__MAX
};

/* "ok", "err", "key-load", ...; "unknown" outside the enum. */
const char *agent_ipc_op_name(int op);

struct agent_ipc_field {
    const void *data;
    size_t len;
};

/* A received message.  Fields point into buf, which the message owns. */
struct agent_ipc_msg {
    enum agent_ipc_op op;
    size_t n;
    struct agent_ipc_field f[AGENT_IPC_MAX_FIELDS];
    unsigned char *buf;
};
/* Frees buf and zeroes the message; NULL is a no-op. */
void agent_ipc_msg_clear(struct agent_ipc_msg *m);

/*
 * Parses one whole frame (header and body, exactly len bytes).  Fields of out borrow from buf
 * (out->buf stays NULL).  Returns 0, or -1 with MK_ERR_INVALID for a wrong version, an unknown
 * op, too many fields, a field that overruns the body or a body with trailing bytes.
 */
int agent_ipc_parse(const unsigned char *buf, size_t len, struct agent_ipc_msg *out,
                    struct mk_err *err) MK_MUST_CHECK;

/* Writes one frame (retrying short writes and EINTR).  -1 with MK_ERR_IO (EPIPE: peer gone) or
 * MK_ERR_INVALID (too many or too large fields). */
int agent_ipc_send(int fd, enum agent_ipc_op op, const struct agent_ipc_field *f, size_t n,
                   struct mk_err *err) MK_MUST_CHECK;

/*
 * Reads one frame.  Returns 1 with *out filled (release with agent_ipc_msg_clear), 0 on EOF
 * before the first byte of a frame (the peer closed cleanly), -1 on EOF inside a frame or a
 * read error (MK_ERR_IO) or a malformed frame (MK_ERR_INVALID: the peer misbehaves).
 */
int agent_ipc_recv(int fd, struct agent_ipc_msg *out, struct mk_err *err) MK_MUST_CHECK;

/* Field i as a NUL-terminated copy; -1 (MK_ERR_INVALID) when missing or holding a NUL.  Caller
 * frees with free(). */
char *agent_ipc_str(const struct agent_ipc_msg *m, size_t i, struct mk_err *err) MK_MUST_CHECK;
/* Field i as a decimal long; -1 (MK_ERR_INVALID) when missing or not a number. */
int agent_ipc_long(const struct agent_ipc_msg *m, size_t i, long *out,
                   struct mk_err *err) MK_MUST_CHECK;

/* Sends ERR carrying err (code, message, detail may be NULL). */
int agent_ipc_send_err(int fd, const struct mk_err *e, const char *detail, struct mk_err *err)
    MK_MUST_CHECK;

/*
 * One request and its reply.  Returns 0 with *reply an OK message (release with
 * agent_ipc_msg_clear), or -1 with err = the peer's error (an ERR reply; its detail is copied
 * into detail when not NULL).  A broken link ends the calling process, as a role cannot go on
 * without its peer and the supervisor decides what happens next: EOF or a read/write error
 * exits with AGENT_EXIT_PEER_LOST, a malformed reply with AGENT_EXIT_PROTOCOL.
 */
int agent_ipc_call(int fd, enum agent_ipc_op op, const struct agent_ipc_field *f, size_t n,
                   struct agent_ipc_msg *reply, char *detail, size_t detail_size,
                   struct mk_err *err) MK_MUST_CHECK;

/* A field from a string (NULL = empty). */
struct agent_ipc_field agent_ipc_s(const char *s);

#endif
