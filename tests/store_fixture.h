/*
 * store_fixture.h: shared set-up for test_store and test_format: a temp directory (mkdtemp,
 * removed on teardown), a local CA in it, and key + certificate pairs issued by that CA.
 */
#ifndef TESTS_STORE_FIXTURE_H
#define TESTS_STORE_FIXTURE_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "tests/support/files.h"

struct store_fx {
    char tmp[64]; /* the temp directory, absolute */
    struct pki_ca *ca;
};

/* One issued pair.  Release with fx_pair_clear(). */
struct fx_pair {
    EVP_PKEY *key;
    X509 *leaf;
    STACK_OF(X509) *chain;
};

/* Creates the temp dir and the local CA; fails the test on error. */
void fx_setup(struct store_fx *fx);
/* Frees the CA and removes the temp dir (without following symlinks). */
void fx_teardown(struct store_fx *fx);
/* A fresh EC P-256 key and a client certificate for it, common name cn. */
void fx_issue(struct store_fx *fx, const char *cn, struct fx_pair *out);
void fx_pair_clear(struct fx_pair *p);

/* Writes a file with mode 0600 (fails the test on error). */
void fx_write(const char *path, const char *data, size_t len);
/* Runs sh -c cmd with stdout and stderr into out (caller frees with free()); returns the exit
 * status (or -1 when it did not exit normally). */
int fx_run(const char *cmd, char **out);
/* How many entries below dir (recursively, symlinks not followed) have a name containing s. */
int fx_count_named(const char *dir, const char *s);

#endif
