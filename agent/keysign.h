/*
 * keysign.h: IAM Roles Anywhere across the privilege separation.  The network process builds the
 * CreateSession request; the key process signs it without the key ever leaving it.
 *
 * The key process never signs bytes the network process chose: for KEY_RA_SIGN it receives the
 * fields of the string to sign (date, region, hash of the canonical request) and builds
 * "AWS4-X509-*-SHA256\n<date>\n<date>/<region>/rolesanywhere/aws4_request\n<hash>" itself
 * (aws_ra_sign_fields).  It also refuses: any certificate other than
 * ca.aws_pca.roles_anywhere.certificate, a region other than the trust anchor's, a date more than
 * AGENT_KEYSIGN_MAX_SKEW_S away from its own clock (no signatures made for later), a serial that
 * is not the current certificate's, and more than AGENT_KEYSIGN_BURST signatures in a row faster
 * than one per AGENT_KEYSIGN_REFILL_S (a compromised network process cannot farm signatures).
 * Every signature and refusal is logged.
 */
#ifndef AGENT_KEYSIGN_H
#define AGENT_KEYSIGN_H

#include <time.h>

#include "agent/ipc.h"
#include "ca/ca.h"
#include "conf/conf.h"
#include "pki/err.h"

#define AGENT_KEYSIGN_MAX_SKEW_S 900
#define AGENT_KEYSIGN_BURST 5
#define AGENT_KEYSIGN_REFILL_S 60

/* ---- key process side ---- */

/* Answers KEY_RA_CERT (op_cert) and KEY_RA_SIGN (op_sign) from cfg on fd: 0 when a reply (OK)
 * was sent, -1 with err (and *detail) for the caller to send as ERR. */
int agent_keysign_op_cert(const struct conf *cfg, int fd, const struct agent_ipc_msg *m,
                          const char **detail, struct mk_err *err) MK_MUST_CHECK;
int agent_keysign_op_sign(const struct conf *cfg, int fd, const struct agent_ipc_msg *m,
                          struct mk_err *err) MK_MUST_CHECK;

#ifdef MK_TESTING
/* Resets the rate limit and sets the clock it and the date check use (0 = time()). */
void agent_keysign_test_reset(time_t now);
/* Moves that clock without touching the bucket. */
void agent_keysign_test_reset_clock(time_t now);
#endif

/* ---- network process side ---- */

/* The signer the aws-pca backend uses (ca.h's pki_ca_ra_signer) over *key_fd.  Borrowed; *key_fd
 * must outlive every CA made with it. */
const struct pki_ca_ra_signer *agent_keysign_signer(int *key_fd);

/* The CA of cfg, with the Roles Anywhere signer when cfg configures it.  Caller frees with
 * pki_ca_free(). */
struct pki_ca *agent_keysign_ca_new(const struct conf *cfg, int *key_fd,
                                    struct mk_err *err) MK_MUST_CHECK;

#endif
