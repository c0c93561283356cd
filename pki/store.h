/*
 * store.h: safe key storage; every rotation writes one *generation* of outputs atomically.
 *
 * Layout of an output directory (the names of the files are configurable):
 *
 *     <dir>/.gen-<N>/             one generation: every output file of one key+certificate
 *     <dir>/current -> .gen-<N>   the live generation (switched by rename(2) of a symlink)
 *     <dir>/previous -> .gen-<M>  the one before, kept for roll-back and for readers mid-switch
 *     <dir>/client.key -> current/client.key   stable paths for Kafka clients (created once)
 *
 * A generation is written file by file through a temp file (O_EXCL|O_NOFOLLOW, fsync, rename),
 * then the generation directory is fsynced, then `current` is switched and <dir> fsynced.  A
 * crash at any point leaves `current` naming a complete generation: never a mixed pair.  The
 * directory must be owned by us or root and not group- or world-writable; planted symlinks are
 * never followed.  Key files are 0600, or 0640 with a group.
 */
#ifndef PKI_STORE_H
#define PKI_STORE_H

#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki/err.h"
#include "pki/secret.h"

/* Where and how one certificate's outputs are written.  Borrowed strings; NULL name = not written. */
struct pki_store_spec {
    const char *directory;      /* absolute */
    const char *key_name;       /* PKCS#8 PEM private key, required */
    const char *cert_name;      /* leaf PEM, required */
    const char *chain_name;     /* CA chain PEM (issuer first, up to the root) */
    const char *fullchain_name; /* leaf followed by the chain */
    const char *pkcs12_name;    /* PKCS#12 keystore; needs pkcs12_password */
    const char *pkcs12_alias;   /* friendly name in the keystore; NULL = "mskpki" */
    uid_t owner;                /* (uid_t)-1 = leave as the writing process */
    gid_t group;                /* (gid_t)-1 = leave */
    mode_t key_mode;            /* 0600 or 0640; 0 = 0600 */
    mode_t cert_mode;           /* 0 = 0644 */
    const struct pki_secret *key_passphrase;  /* NULL = unencrypted PKCS#8 */
    const struct pki_secret *pkcs12_password; /* required when pkcs12_name is set */
};

/* A generation read back from disk.  Owned; release with pki_generation_clear(). */
struct pki_generation {
    unsigned long number;
    EVP_PKEY *key;
    X509 *leaf;
    STACK_OF(X509) *chain; /* may be empty, never NULL after a successful read */
};
void pki_generation_clear(struct pki_generation *gen);

/* Checks that the directory exists (creating it 0750 when missing and its parent is safe), is a
 * directory, not a symlink, owned by us or root, and not group- or world-writable. */
int pki_store_check_dir(const char *directory, struct mk_err *err) MK_MUST_CHECK;

/* Writes a new generation and makes it current; the old current becomes previous and older
 * generations are removed.  On failure the current generation is untouched and no temp file or
 * partial generation is left behind. */
int pki_store_write(const struct pki_store_spec *spec, EVP_PKEY *key, X509 *leaf,
                    STACK_OF(X509) *chain, struct mk_err *err) MK_MUST_CHECK;

/* Reads the current generation and checks that key and certificate match.  No generation yet:
 * -1 with MK_ERR_NOTFOUND.  Unreadable or mismatched files: -1 with MK_ERR_INVALID/VERIFY. */
int pki_store_read(const struct pki_store_spec *spec, struct pki_generation *out,
                   struct mk_err *err) MK_MUST_CHECK;

/* Start-up recovery: removes temp files and generation directories that neither `current` nor
 * `previous` names (half-written by a crash).  Returns 0, or -1 on an unsafe directory. */
int pki_store_recover(const struct pki_store_spec *spec, struct mk_err *err) MK_MUST_CHECK;

/*
 * Writes one file atomically: temp file in the same directory (O_EXCL|O_NOFOLLOW), fchmod, fchown
 * (when owner/group are not -1), write, fsync, rename over path, fsync of the directory.  Used
 * for state files and pending keys as well.  Nothing is left behind on failure.
 */
int pki_store_write_file(const char *path, const void *data, size_t len, mode_t mode, uid_t owner,
                         gid_t group, struct mk_err *err) MK_MUST_CHECK;

#ifdef MK_TESTING
/* Fault injection for tests: the n-th file write from now on (1 = the next) fails with EIO.
 * 0 disables. */
void pki_store_test_fail_write(int n);
#endif

#endif
