/*
 * netproc.h: the network process.  It runs the certificate state machine (iterate.h), talks to
 * the CA (AWS Private CA over HTTPS, or the local CA through the key process), serves metrics
 * and writes state files, but never holds a private key: the key process (keyproc.h) makes keys
 * and CSRs and writes the outputs, and Landlock keeps the output directories, passphrase files
 * and the local CA's directory out of its reach.  Hooks and sd_notify go through the supervisor.
 */
#ifndef AGENT_NETPROC_H
#define AGENT_NETPROC_H

#include "agent/sandbox.h"
#include "conf/conf.h"

struct agent_netproc_args {
    struct conf *cfg;  /* owned by the network process */
    int key_fd;        /* link to the key process */
    int sup_fd;        /* link to the supervisor */
    int once;          /* --once */
    const char *renew; /* --renew NAME, or NULL */
    struct agent_sandbox_user user; /* started as root: agent.user, dropped to after sandboxing */
    int control_fd; /* the daemon's listening control socket (control.h, owned), or -1 */
};

/* Runs until SIGTERM/SIGINT (daemon) or one pass (--once, --renew).  Returns the exit status:
 * 0, or 1 when start-up fails or (--once/--renew) an attempt failed.  A broken link to a peer
 * ends the process with AGENT_EXIT_PEER_LOST or AGENT_EXIT_PROTOCOL (ipc.h). */
int agent_netproc_main(const struct agent_netproc_args *args);

#endif
