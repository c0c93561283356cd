/*
 * fuzz_pem.c: the PEM/DER loaders on hostile bytes: certificates (AWS answers, chain files),
 * private keys (encrypted or not), CSRs and PKCS#12 files.  The first byte picks the loader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/format.h"
#include "pki/key.h"
#include "pki/secret.h"

static struct pki_secret *pass;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pass = pki_secret_from("fuzz-pass", 9, NULL);
    if (pass == NULL) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    if (size < 1) {
        return 0;
    }
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0: {
        STACK_OF(X509) *certs = pki_certs_from_mem(p, n, &err);
        if (certs == NULL) {
            fuzz_expect_one_line(&err);
        }
        sk_X509_pop_free(certs, X509_free);
        break;
    }
    case 1: {
        EVP_PKEY *key = pki_key_from_pem(p, n, (data[0] & 4) ? pass : NULL, &err);
        if (key == NULL) {
            fuzz_expect_one_line(&err);
        }
        EVP_PKEY_free(key);
        break;
    }
    case 2: {
        X509_REQ *csr = pki_csr_from_pem(p, n, &err);
        if (csr == NULL) {
            fuzz_expect_one_line(&err);
        }
        X509_REQ_free(csr);
        break;
    }
    default: {
        EVP_PKEY *key = NULL;
        X509 *leaf = NULL;
        STACK_OF(X509) *chain = NULL;
        if (pki_format_pkcs12_parse(p, n, pass, &key, &leaf, &chain, &err) != 0) {
            fuzz_expect_one_line(&err);
        }
        EVP_PKEY_free(key);
        X509_free(leaf);
        sk_X509_pop_free(chain, X509_free);
        break;
    }
    }
    return 0;
}
