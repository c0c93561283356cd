/*
 * keyproc.h: the key process (its client in the network process is keyclient.h).
 *
 * The key process owns every private key: it reads and writes the output directories (key
 * stores), the pending key of an interrupted issuance (<directory>/.pending-<key file>, 0600),
 * the passphrase files and the local CA's directory.  Right after start-up it installs a seccomp
 * filter (sandbox.h) that denies sockets and everything else it does not need.  It answers one
 * request at a time (ipc.h) and sends out only CSRs, certificates and generation numbers.
 */
#ifndef AGENT_KEYPROC_H
#define AGENT_KEYPROC_H

#include <openssl/x509.h>

#include "conf/conf.h"
#include "ca/ca.h"
#include "pki/err.h"

/*
 * Serves requests on fd until the peer closes it.  cfg is owned (freed on return; a
 * AGENT_IPC_KEY_RELOAD replaces it with a fresh conf_load of the same path).  Returns the exit
 * status: 0 after a clean EOF, 1 when the sandbox cannot be installed, AGENT_EXIT_PROTOCOL when
 * the peer sent a malformed frame or an op that is not the key process's.
 */
int agent_keyproc_main(int fd, struct conf *cfg);

#endif
