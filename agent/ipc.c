/* ipc.c: framing of the messages between the agent's processes (see ipc.h). */
#include "agent/ipc.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki/log.h"
#include "pki/text.h"

static const char *const op_names[AGENT_IPC__MAX] = {
    "ok",        "err",      "key-load",  "key-csr",    "key-store",  "key-drop", "key-reload",
    "ca-issue",  "ca-anchors", "ca-revoke", "test-probe", "sup-notify", "sup-hook",
    "key-ra-cert", "key-ra-sign", "sup-config", "sup-reload"};

const char *agent_ipc_op_name(int op)
{
    if (op < 0 || op >= AGENT_IPC__MAX) {
        return "unknown";
    }
    return op_names[op];
}

void agent_ipc_msg_clear(struct agent_ipc_msg *m)
{
    if (m == NULL) {
        return;
    }
    free(m->buf);
    memset(m, 0, sizeof(*m));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Checks the 8-byte header; fills op, field count and body length. */
static int parse_header(const unsigned char *h, struct agent_ipc_msg *m, size_t *nfields,
                        size_t *body, struct mk_err *err)
{
    int rc = -1;

    MK_ENSURE(h[0] == AGENT_IPC_VERSION, err, MK_ERR_INVALID, "ipc: version %u, expected %u",
              (unsigned)h[0], (unsigned)AGENT_IPC_VERSION);
    MK_ENSURE(h[1] < AGENT_IPC__MAX, err, MK_ERR_INVALID, "ipc: unknown op %u", (unsigned)h[1]);
    *nfields = (size_t)h[2] << 8 | h[3];
    *body = get32(h + 4);
    MK_ENSURE(*nfields <= AGENT_IPC_MAX_FIELDS, err, MK_ERR_INVALID, "ipc: %zu fields (max %d)",
              *nfields, AGENT_IPC_MAX_FIELDS);
    MK_ENSURE(*body <= AGENT_IPC_MAX_BODY, err, MK_ERR_INVALID, "ipc: body of %zu bytes (max %d)",
              *body, AGENT_IPC_MAX_BODY);
    m->op = (enum agent_ipc_op)h[1];
    rc = 0;
out:
    return rc;
}

/* Splits a body into its fields; every byte must belong to a field. */
static int parse_body(const unsigned char *b, size_t len, size_t nfields, struct agent_ipc_msg *m,
                      struct mk_err *err)
{
    size_t pos = 0;
    int rc = -1;

    for (size_t i = 0; i < nfields; i++) {
        MK_ENSURE(len - pos >= 4, err, MK_ERR_INVALID, "ipc: field %zu: truncated length", i);
        size_t flen = get32(b + pos);
        pos += 4;
        MK_ENSURE(flen <= len - pos, err, MK_ERR_INVALID, "ipc: field %zu: %zu bytes overrun the body",
                  i, flen);
        m->f[i].data = b + pos;
        m->f[i].len = flen;
        pos += flen;
    }
    MK_ENSURE(pos == len, err, MK_ERR_INVALID, "ipc: %zu trailing bytes", len - pos);
    m->n = nfields;
    rc = 0;
out:
    return rc;
}

int agent_ipc_parse(const unsigned char *buf, size_t len, struct agent_ipc_msg *out,
                    struct mk_err *err)
{
    struct agent_ipc_msg m;
    size_t nfields = 0;
    size_t body = 0;
    int rc = -1;

    memset(&m, 0, sizeof(m));
    MK_ENSURE(len >= AGENT_IPC_HEADER, err, MK_ERR_INVALID, "ipc: short frame (%zu bytes)", len);
    MK_GUARD(parse_header(buf, &m, &nfields, &body, err));
    MK_ENSURE(body == len - AGENT_IPC_HEADER, err, MK_ERR_INVALID,
              "ipc: body length %zu, frame holds %zu", body, len - AGENT_IPC_HEADER);
    MK_GUARD(parse_body(buf + AGENT_IPC_HEADER, body, nfields, &m, err));
    *out = m;
    rc = 0;
out:
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t len, struct mk_err *err)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            mk_err_errno(err, MK_ERR_IO, "ipc: write");
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Returns the number of bytes read before EOF (len when complete), or -1 on error. */
static ssize_t read_all(int fd, unsigned char *p, size_t len, struct mk_err *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            mk_err_errno(err, MK_ERR_IO, "ipc: read");
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int agent_ipc_send(int fd, enum agent_ipc_op op, const struct agent_ipc_field *f, size_t n,
                   struct mk_err *err)
{
    unsigned char *buf = NULL;
    size_t body = 0;
    size_t pos = AGENT_IPC_HEADER;
    int rc = -1;

    MK_ENSURE(n <= AGENT_IPC_MAX_FIELDS && (int)op >= 0 && op < AGENT_IPC__MAX, err,
              MK_ERR_INVALID, "ipc: cannot send op %d with %zu fields", (int)op, n);
    for (size_t i = 0; i < n; i++) {
        MK_ENSURE(f[i].len <= AGENT_IPC_MAX_BODY, err, MK_ERR_INVALID, "ipc: field too large");
        body += 4 + f[i].len;
    }
    MK_ENSURE(body <= AGENT_IPC_MAX_BODY, err, MK_ERR_INVALID, "ipc: message of %zu bytes is too "
              "large for %s", body, agent_ipc_op_name((int)op));
    buf = malloc(AGENT_IPC_HEADER + body);
    MK_ENSURE(buf != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    buf[0] = AGENT_IPC_VERSION;
    buf[1] = (unsigned char)op;
    buf[2] = (unsigned char)(n >> 8);
    buf[3] = (unsigned char)n;
    put32(buf + 4, (uint32_t)body);
    for (size_t i = 0; i < n; i++) {
        put32(buf + pos, (uint32_t)f[i].len);
        pos += 4;
        if (f[i].len > 0) {
            memcpy(buf + pos, f[i].data, f[i].len);
        }
        pos += f[i].len;
    }
    MK_GUARD(write_all(fd, buf, pos, err));
    rc = 0;
out:
    free(buf);
    return rc;
}

int agent_ipc_recv(int fd, struct agent_ipc_msg *out, struct mk_err *err)
{
    unsigned char h[AGENT_IPC_HEADER];
    struct agent_ipc_msg m;
    size_t nfields = 0;
    size_t body = 0;
    ssize_t got;
    int rc = -1;

    memset(&m, 0, sizeof(m));
    got = read_all(fd, h, sizeof(h), err);
    if (got == 0) {
        return 0;
    }
    MK_ENSURE(got == (ssize_t)sizeof(h), err, MK_ERR_IO,
              "ipc: EOF inside a frame header");
    MK_GUARD(parse_header(h, &m, &nfields, &body, err));
    m.buf = malloc(body + 1);
    MK_ENSURE(m.buf != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    got = read_all(fd, m.buf, body, err);
    MK_ENSURE(got == (ssize_t)body, err, MK_ERR_IO, "ipc: EOF inside a frame body");
    MK_GUARD(parse_body(m.buf, body, nfields, &m, err));
    *out = m;
    m.buf = NULL;
    rc = 1;
out:
    free(m.buf);
    return rc;
}

char *agent_ipc_str(const struct agent_ipc_msg *m, size_t i, struct mk_err *err)
{
    char *s = NULL;

    MK_ENSURE(i < m->n, err, MK_ERR_INVALID, "ipc: %s: field %zu missing",
              agent_ipc_op_name((int)m->op), i);
    MK_ENSURE(memchr(m->f[i].data, '\0', m->f[i].len) == NULL, err, MK_ERR_INVALID,
              "ipc: %s: field %zu holds a NUL", agent_ipc_op_name((int)m->op), i);
    s = malloc(m->f[i].len + 1);
    MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "ipc: out of memory");
    if (m->f[i].len > 0) {
        memcpy(s, m->f[i].data, m->f[i].len);
    }
    s[m->f[i].len] = '\0';
out:
    return s;
}

int agent_ipc_long(const struct agent_ipc_msg *m, size_t i, long *out, struct mk_err *err)
{
    char buf[32];
    long v;
    int rc = -1;

    MK_ENSURE(i < m->n && m->f[i].len > 0 && m->f[i].len < sizeof(buf), err, MK_ERR_INVALID,
              "ipc: %s: field %zu is not a number", agent_ipc_op_name((int)m->op), i);
    memcpy(buf, m->f[i].data, m->f[i].len);
    buf[m->f[i].len] = '\0';
    MK_ENSURE(mk_parse_long(buf, LONG_MIN, LONG_MAX, &v) == 0, err, MK_ERR_INVALID,
              "ipc: %s: field %zu is not a number", agent_ipc_op_name((int)m->op), i);
    *out = v;
    rc = 0;
out:
    return rc;
}

struct agent_ipc_field agent_ipc_s(const char *s)
{
    struct agent_ipc_field f = {s != NULL ? s : "", s != NULL ? strlen(s) : 0};
    return f;
}

int agent_ipc_send_err(int fd, const struct mk_err *e, const char *detail, struct mk_err *err)
{
    char code[16];
    struct agent_ipc_field f[3];

    snprintf(code, sizeof(code), "%d", (int)e->code);
    f[0] = agent_ipc_s(code);
    f[1] = agent_ipc_s(e->msg);
    f[2] = agent_ipc_s(detail);
    return agent_ipc_send(fd, AGENT_IPC_ERR, f, 3, err);
}

/* The peer's error from an ERR reply.  A refusal (MK_ERR_REFUSED) carries its reason in the
 * detail field: it goes to err->ext_code as well. */
static void take_err(const struct agent_ipc_msg *m, char *detail, size_t detail_size,
                     struct mk_err *err)
{
    struct mk_err perr;
    long code = MK_ERR_IO;
    int n;

    if (agent_ipc_long(m, 0, &code, &perr) != 0 || code <= 0 || code >= MK_ERR__MAX) {
        code = MK_ERR_IO;
    }
    n = m->n > 1 ? (int)(m->f[1].len > 700 ? 700 : m->f[1].len) : 0;
    mk_err_set(err, (enum mk_code)code, "%.*s", n, n > 0 ? (const char *)m->f[1].data : "");
    if (err != NULL && code == MK_ERR_REFUSED && m->n > 2) {
        n = (int)(m->f[2].len >= sizeof(err->ext_code) ? sizeof(err->ext_code) - 1 : m->f[2].len);
        snprintf(err->ext_code, sizeof(err->ext_code), "%.*s", n, (const char *)m->f[2].data);
    }
    if (detail != NULL && detail_size > 0) {
        n = m->n > 2 ? (int)(m->f[2].len >= detail_size ? detail_size - 1 : m->f[2].len) : 0;
        snprintf(detail, detail_size, "%.*s", n, n > 0 ? (const char *)m->f[2].data : "");
    }
}

int agent_ipc_call(int fd, enum agent_ipc_op op, const struct agent_ipc_field *f, size_t n,
                   struct agent_ipc_msg *reply, char *detail, size_t detail_size,
                   struct mk_err *err)
{
    struct agent_ipc_msg m;
    struct mk_err lerr;
    int r;

    memset(&m, 0, sizeof(m));
    if (detail != NULL && detail_size > 0) {
        detail[0] = '\0';
    }
    if (agent_ipc_send(fd, op, f, n, &lerr) != 0) {
        if (lerr.code != MK_ERR_IO) {
            *err = lerr;
            return -1;
        }
        mk_log_err("ipc.peer_lost", &lerr);
        exit(AGENT_EXIT_PEER_LOST);
    }
    r = agent_ipc_recv(fd, &m, &lerr);
    if (r <= 0) {
        if (r == 0) {
            mk_err_set(&lerr, MK_ERR_IO, "ipc: %s: the peer closed the link",
                       agent_ipc_op_name((int)op));
        }
        mk_log_err("ipc.peer_lost", &lerr);
        exit(lerr.code == MK_ERR_INVALID ? AGENT_EXIT_PROTOCOL : AGENT_EXIT_PEER_LOST);
    }
    if (m.op == AGENT_IPC_ERR) {
        take_err(&m, detail, detail_size, err);
        agent_ipc_msg_clear(&m);
        return -1;
    }
    if (m.op != AGENT_IPC_OK) {
        mk_log(MK_LOG_ERROR, "ipc.protocol", "request=%s reply=%s", agent_ipc_op_name((int)op),
               agent_ipc_op_name((int)m.op));
        exit(AGENT_EXIT_PROTOCOL);
    }
    *reply = m;
    return 0;
}
