/*
 * fuzz_agent_ipc.c: the agent's IPC frame parser (agent/ipc.c) on hostile bytes.  A compromised
 * network process controls every byte the key process and the supervisor read, so the parser
 * must reject anything malformed without reading outside the frame.  Accepted frames are sent
 * again with agent_ipc_send through a socketpair and received with agent_ipc_recv: the result
 * must be the same message, byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/ipc.h"

static void check_same(const struct agent_ipc_msg *a, const struct agent_ipc_msg *b)
{
    if (a->op != b->op || a->n != b->n) {
        abort();
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->f[i].len != b->f[i].len ||
            (a->f[i].len > 0 && memcmp(a->f[i].data, b->f[i].data, a->f[i].len) != 0)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_ipc_msg m;
    struct agent_ipc_msg back = {0};
    struct mk_err err;
    int sv[2];

    if (agent_ipc_parse(data, size, &m, &err) != 0) {
        return 0;
    }
    if (m.n > AGENT_IPC_MAX_FIELDS || (int)m.op >= AGENT_IPC__MAX) {
        abort();
    }
    for (size_t i = 0; i < m.n; i++) {
        /* Every field lies inside the frame. */
        if ((const uint8_t *)m.f[i].data < data ||
            (const uint8_t *)m.f[i].data + m.f[i].len > data + size) {
            abort();
        }
        char *s = agent_ipc_str(&m, i, &err);
        free(s);
    }
    /* Small frames only: a socketpair buffer holds them without a reader thread. */
    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        return 0;
    }
    if (agent_ipc_send(sv[0], m.op, m.f, m.n, &err) != 0 || agent_ipc_recv(sv[1], &back, &err) != 1) {
        abort();
    }
    check_same(&m, &back);
    agent_ipc_msg_clear(&back);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
