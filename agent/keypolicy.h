/*
 * keypolicy.h: what the key process accepts from the network process (see docs/design.md,
 * "The key process's policy").
 *
 * The network process parses HTTP, TLS, JSON and XML; a bug there must not turn into a
 * certificate for an identity the host does not have, nor into a key stored beside a chain of
 * the attacker's.  So the key process checks every CA_ISSUE, KEY_STORE and CA_REVOKE against its
 * own copy of the configuration before it signs or writes anything:
 *
 *   CA_ISSUE   the CSR's key is one the key process made for that certificate block (and not yet
 *              signed), its subject and SANs are exactly the configured ones, and the validity
 *              is no longer than the block's and the local CA's max_validity.
 *   KEY_STORE  the leaf's key is the prepared one, its subject and SANs are the configured ones,
 *              it has EKU clientAuth (or no EKU) and is no CA, and its chain verifies to the
 *              trust anchor the key process holds: the local CA's certificate, or for aws-pca
 *              ca.aws_pca.trust_anchor_file or the CA certificate pinned at the first store
 *              (<directory>/.trust-anchor.pem).
 *   CA_REVOKE  not the certificate a block uses now.
 *
 * A refusal is -1 with err->code MK_ERR_REFUSED, err->ext_code the reason's name
 * (agent_keypolicy_reason_name) and a one-line message naming what differs.  Nothing here
 * writes but agent_keypolicy_pin_write().
 */
#ifndef AGENT_KEYPOLICY_H
#define AGENT_KEYPOLICY_H

#include <time.h>

#include <openssl/x509.h>

#include "pki/csr.h"
#include "pki/err.h"

/* Why a request was refused: the reason label of mskpki_keyproc_refusals_total. */
enum agent_keypolicy_reason {
    AGENT_KEYPOLICY_KEY,           /* not a key the key process prepared for this block */
    AGENT_KEYPOLICY_REPLAY,        /* CA_ISSUE again for a key already signed */
    AGENT_KEYPOLICY_SUBJECT,       /* subject is not the configured one */
    AGENT_KEYPOLICY_SAN,           /* SANs are not exactly the configured ones */
    AGENT_KEYPOLICY_VALIDITY,      /* CA_ISSUE longer than configured (or max_validity) */
    AGENT_KEYPOLICY_CLIENT_AUTH,   /* leaf without EKU clientAuth */
    AGENT_KEYPOLICY_CA_FLAG,       /* leaf that is a CA */
    AGENT_KEYPOLICY_CHAIN,         /* chain does not verify to the trust anchor */
    AGENT_KEYPOLICY_ANCHOR_CHANGE, /* chain ends in another CA than the pinned one */
    AGENT_KEYPOLICY_REVOKE_CURRENT, /* CA_REVOKE of a block's certificate in use */
    AGENT_KEYPOLICY__MAX
};

/* "key", "replay", "subject", "san", "validity", "client_auth", "ca_flag", "chain",
 * "anchor_change", "revoke_current"; "unknown" outside the enum. */
const char *agent_keypolicy_reason_name(int reason);

/* Fills err as a refusal: MK_ERR_REFUSED, ext_code = the reason's name, the message. */
void agent_keypolicy_refuse(struct mk_err *err, enum agent_keypolicy_reason reason, const char *fmt,
                            ...) MK_PRINTF(3, 4);

/* The one log line of a refusal: event=keyproc.refused op=<op> name=<name> reason=... msg=... */
void agent_keypolicy_log(const char *op, const char *name, const struct mk_err *err);

/*
 * CA_ISSUE for a block: key is the prepared key (the CSR must carry it), spec the configured
 * subject and SANs, validity the requested seconds, which must be in (0, max] where max is
 * cert_validity and, when positive, ca_max_validity.  0 or a refusal (or MK_ERR_INVALID for a
 * CSR without a public key).
 */
int agent_keypolicy_check_csr(X509_REQ *csr, EVP_PKEY *key, const struct pki_csr_spec *spec,
                              long validity, long cert_validity, long ca_max_validity,
                              struct mk_err *err) MK_MUST_CHECK;

/* Where the anchors of a KEY_STORE check come from. */
enum agent_keypolicy_anchor_kind {
    AGENT_KEYPOLICY_ANCHOR_LOCAL,     /* the local CA's certificate */
    AGENT_KEYPOLICY_ANCHOR_CONFIG,    /* ca.aws_pca.trust_anchor_file */
    AGENT_KEYPOLICY_ANCHOR_PINNED,    /* the pin file: another top of chain is anchor_change */
    AGENT_KEYPOLICY_ANCHOR_FIRST_USE, /* no pin yet: the top of the chain being stored */
};

/* A leaf offered to KEY_STORE.  Borrowed pointers, valid for the call. */
struct agent_keypolicy_leaf {
    X509 *leaf;
    STACK_OF(X509) * chain; /* issuer first, as the network process sends it */
    EVP_PKEY *key;          /* the prepared key */
    const struct pki_csr_spec *spec;
    time_t now;               /* the chain must be valid then */
    STACK_OF(X509) * anchors; /* at least one */
    enum agent_keypolicy_anchor_kind kind;
};

/*
 * Checks a KEY_STORE request.  On success *anchor (may be NULL) gets the anchor the chain
 * verified to (a new reference: caller frees with X509_free()).  0 or a refusal.
 */
int agent_keypolicy_check_leaf(const struct agent_keypolicy_leaf *in, X509 **anchor,
                               struct mk_err *err) MK_MUST_CHECK;

/*
 * CA_REVOKE (local CA): the network process revokes only what it replaced (revoke_replaced),
 * never the certificate a block uses now, which would cut the host off.  current is the block's
 * certificate in use (NULL: none); a refusal when cert is it.
 */
int agent_keypolicy_check_revoke(X509 *cert, X509 *current, struct mk_err *err) MK_MUST_CHECK;

/* The top of a chain sent issuer first: its last certificate, or NULL for an empty chain.
 * Borrowed from chain. */
X509 *agent_keypolicy_chain_top(STACK_OF(X509) * chain);

/*
 * The anchors for aws-pca: the configured file (anchor_file, may be NULL), else the pin at
 * pin_path, else (first use) the top of current (the chain of the generation already stored,
 * may be NULL or empty) or else of chain (the one offered).  *kind says which: FIRST_USE for
 * both of the latter.  Caller frees *anchors with sk_X509_pop_free(s, X509_free).  -1 when a
 * file cannot be read (a missing pin is first use) or there is no chain at all to pin (a
 * refusal, chain).
 */
int agent_keypolicy_anchors(const char *anchor_file, const char *pin_path, STACK_OF(X509) * current,
                            STACK_OF(X509) * chain, STACK_OF(X509) * *anchors,
                            enum agent_keypolicy_anchor_kind *kind,
                            struct mk_err *err) MK_MUST_CHECK;

/*
 * After a successful store with aws-pca: writes anchor to pin_path (0644, atomically) when it
 * is not the pinned one already, and logs event=keyproc.anchor_pinned.  Returns 0 or -1.
 */
int agent_keypolicy_pin_write(const char *pin_path, const char *name, X509 *anchor,
                              enum agent_keypolicy_anchor_kind kind,
                              struct mk_err *err) MK_MUST_CHECK;

/* The pin file of an output directory: <directory>/.trust-anchor.pem into buf. */
int agent_keypolicy_pin_path(const char *directory, char *buf, size_t size) MK_MUST_CHECK;

#endif
