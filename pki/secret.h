/*
 * secret.h: secrets (passphrases, passwords, unencrypted key bytes) in libsodium guarded memory.
 *
 * A struct pki_secret owns sodium_malloc'ed bytes that are locked, guarded and wiped on free.
 * pki_secret_free() accepts NULL.  Also the project's randomness (jitter, serials) on libsodium.
 */
#ifndef PKI_SECRET_H
#define PKI_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "pki/err.h"

struct pki_secret;

/* Initialises libsodium; call once before anything else here.  Returns 0 or -1. */
int pki_sodium_init(struct mk_err *err) MK_MUST_CHECK;

/* A zeroed secret of len bytes (len may be 0).  Caller frees with pki_secret_free(). */
struct pki_secret *pki_secret_new(size_t len, struct mk_err *err) MK_MUST_CHECK;

/* A copy of len bytes.  Caller frees with pki_secret_free(). */
struct pki_secret *pki_secret_from(const void *data, size_t len, struct mk_err *err) MK_MUST_CHECK;

/*
 * Reads a passphrase or password file: the first line, without its trailing "\n" or "\r\n".
 * Refuses an empty secret, and a file that others may read or write, its group may write, or
 * anyone but this process's user may read unless it is root's with this process's group and
 * mode 0640 (the /etc/ssl/private convention); the message names the file and the command that
 * fixes it (MK_ERR_PERM).
 * Caller frees with pki_secret_free().
 */
struct pki_secret *pki_secret_read_file(const char *path, struct mk_err *err) MK_MUST_CHECK;

/*
 * Accepts root-owned secret files of group gid at mode 0640 as if this process were in gid: the
 * agent's own group when it runs as root (agent.user; conf_agent_user_resolve() calls this), so
 * the packaged layout (root:mskpki 0640, the quick start's umask 027 + chgrp) reads alike for the
 * unit's User=mskpki and for a root shell's --check-config.  Process-wide; children inherit it.
 */
void pki_secret_trust_group(gid_t gid);

/* Borrowed views; valid until pki_secret_free().  data is NUL-terminated after len bytes. */
const unsigned char *pki_secret_data(const struct pki_secret *s);
const char *pki_secret_str(const struct pki_secret *s);
size_t pki_secret_len(const struct pki_secret *s);
/* Writable view of the len bytes (to fill a pki_secret_new() buffer in place); same lifetime. */
unsigned char *pki_secret_mut(struct pki_secret *s);

void pki_secret_free(struct pki_secret *s);

/* Uniform random integer in [0, upper) (upper > 0), and a uniform double in [0, 1). */
uint32_t pki_random_uniform(uint32_t upper);
double pki_random_unit(void);
/* Fills buf with len random bytes. */
void pki_random_bytes(void *buf, size_t len);

#endif
