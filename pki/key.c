/*
 * key.c: private key generation, typing and loading with OpenSSL 3 EVP APIs.
 *
 * Keys are generated with EVP_PKEY_CTX (named group for EC, bit length for RSA) rather than the
 * deprecated EC_KEY/RSA APIs; types are recognised through EVP_PKEY_get_base_id() and the
 * "group" / "bits" parameters, so keys loaded from files classify the same way.
 */
#include "pki/key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

/* One row per key type: config name, description, OpenSSL group or RSA size. */
struct key_type_desc {
    const char *name;
    const char *desc;
    const char *group; /* EC named group, NULL for RSA */
    int bits;          /* RSA modulus bits, 0 for EC */
};

static const struct key_type_desc key_types[PKI_KEY__MAX] = {
    [PKI_KEY_EC_P256] = {"ec-p256", "EC P-256", "P-256", 0},
    [PKI_KEY_EC_P384] = {"ec-p384", "EC P-384", "P-384", 0},
    [PKI_KEY_RSA_2048] = {"rsa-2048", "RSA 2048", NULL, 2048},
    [PKI_KEY_RSA_3072] = {"rsa-3072", "RSA 3072", NULL, 3072},
    [PKI_KEY_RSA_4096] = {"rsa-4096", "RSA 4096", NULL, 4096},
};

/* Largest file pki_key_load_file reads: a 4096-bit encrypted PKCS#8 key is about 3.5 KiB. */
#define KEY_FILE_MAX (64 * 1024)

const char *pki_key_type_name(enum pki_key_type type)
{
    if ((int)type < 0 || type >= PKI_KEY__MAX) {
        return "unknown";
    }
    return key_types[type].name;
}

int pki_key_type_parse(const char *name, enum pki_key_type *out)
{
    if (name == NULL) {
        return -1;
    }
    for (int i = 0; i < PKI_KEY__MAX; i++) {
        if (strcmp(name, key_types[i].name) == 0) {
            *out = (enum pki_key_type)i;
            return 0;
        }
    }
    return -1;
}

EVP_PKEY *pki_key_generate(enum pki_key_type type, struct mk_err *err)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY *ret = NULL;
    const struct key_type_desc *d;

    MK_ENSURE((int)type >= 0 && type < PKI_KEY__MAX, err, MK_ERR_INVALID,
              "key: unknown key type %d", (int)type);
    d = &key_types[type];
    if (d->group != NULL) {
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        MK_GUARD_OSSL(ctx != NULL, err, MK_ERR_CRYPTO, "key: EVP_PKEY_CTX_new_from_name(EC)");
        MK_GUARD_OSSL(EVP_PKEY_keygen_init(ctx) == 1, err, MK_ERR_CRYPTO,
                      "key: EVP_PKEY_keygen_init(%s)", d->name);
        MK_GUARD_OSSL(EVP_PKEY_CTX_set_group_name(ctx, d->group) == 1, err, MK_ERR_CRYPTO,
                      "key: EVP_PKEY_CTX_set_group_name(%s)", d->group);
    } else {
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        MK_GUARD_OSSL(ctx != NULL, err, MK_ERR_CRYPTO, "key: EVP_PKEY_CTX_new_from_name(RSA)");
        MK_GUARD_OSSL(EVP_PKEY_keygen_init(ctx) == 1, err, MK_ERR_CRYPTO,
                      "key: EVP_PKEY_keygen_init(%s)", d->name);
        MK_GUARD_OSSL(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, d->bits) == 1, err, MK_ERR_CRYPTO,
                      "key: EVP_PKEY_CTX_set_rsa_keygen_bits(%d)", d->bits);
    }
    MK_GUARD_OSSL(EVP_PKEY_generate(ctx, &pkey) == 1, err, MK_ERR_CRYPTO,
                  "key: EVP_PKEY_generate(%s)", d->name);
    ret = pkey;
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return ret;
}

int pki_key_type_of(EVP_PKEY *key, enum pki_key_type *out)
{
    char group[64];
    size_t glen = 0;
    int bits;

    if (key == NULL) {
        return -1;
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            ERR_clear_error();
            return -1;
        }
        /* OpenSSL reports the SECG/ANSI names; accept the NIST ones too. */
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *out = PKI_KEY_EC_P256;
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *out = PKI_KEY_EC_P384;
            return 0;
        }
        return -1;
    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(key);
        for (int i = 0; i < PKI_KEY__MAX; i++) {
            if (key_types[i].group == NULL && key_types[i].bits == bits) {
                *out = (enum pki_key_type)i;
                return 0;
            }
        }
        return -1;
    default:
        return -1;
    }
}

const EVP_MD *pki_key_digest(EVP_PKEY *key)
{
    enum pki_key_type type;

    if (pki_key_type_of(key, &type) == 0 && type == PKI_KEY_EC_P384) {
        return EVP_sha384();
    }
    return EVP_sha256();
}

const char *pki_key_signing_algorithm(EVP_PKEY *key)
{
    enum pki_key_type type;

    if (pki_key_type_of(key, &type) != 0) {
        /* Not one of ours: still answer for the key family, as the contract promises. */
        return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "SHA256WITHRSA" : "SHA256WITHECDSA";
    }
    switch (type) {
    case PKI_KEY_EC_P256:
        return "SHA256WITHECDSA";
    case PKI_KEY_EC_P384:
        return "SHA384WITHECDSA";
    case PKI_KEY_RSA_2048:
    case PKI_KEY_RSA_3072:
    case PKI_KEY_RSA_4096:
        return "SHA256WITHRSA";
    case PKI_KEY__MAX:
    default:
        return "SHA256WITHECDSA";
    }
}

const char *pki_key_describe(EVP_PKEY *key)
{
    enum pki_key_type type;

    if (pki_key_type_of(key, &type) != 0) {
        if (key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
            return "RSA (other size)";
        }
        if (key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
            return "EC (other curve)";
        }
        return "unsupported key";
    }
    return key_types[type].desc;
}

/* Passphrase callback for PEM_read_bio_PrivateKey: copies the pki_secret into OpenSSL's buffer
 * (which OpenSSL cleanses itself).  No passphrase: fail rather than prompt on a terminal. */
static int key_pass_cb(char *buf, int size, int rwflag, void *u)
{
    const struct pki_secret *pass = u;
    size_t len;

    (void)rwflag;
    if (pass == NULL || size <= 0) {
        return -1;
    }
    len = pki_secret_len(pass);
    if (len > (size_t)size) {
        return -1;
    }
    memcpy(buf, pki_secret_data(pass), len);
    return (int)len;
}

EVP_PKEY *pki_key_from_pem(const void *pem, size_t len, const struct pki_secret *passphrase,
                           struct mk_err *err)
{
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;

    MK_ENSURE(pem != NULL && len > 0, err, MK_ERR_INVALID, "key: empty PEM input");
    MK_ENSURE(len <= (size_t)0x7fffffff, err, MK_ERR_INVALID, "key: PEM input too large");
    bio = BIO_new_mem_buf(pem, (int)len);
    MK_GUARD_OSSL(bio != NULL, err, MK_ERR_NOMEM, "key: BIO_new_mem_buf");
    ERR_clear_error();
    key = PEM_read_bio_PrivateKey(bio, NULL, key_pass_cb, (void *)passphrase);
    MK_GUARD_OSSL(key != NULL, err, MK_ERR_INVALID,
                  passphrase != NULL ? "key: PEM_read_bio_PrivateKey (wrong passphrase or not a "
                                       "private key)"
                                     : "key: PEM_read_bio_PrivateKey (not a private key, or "
                                       "encrypted and no passphrase given)");
out:
    BIO_free(bio);
    return key;
}

EVP_PKEY *pki_key_load_file(const char *path, const struct pki_secret *passphrase,
                            struct mk_err *err)
{
    FILE *fp = NULL;
    struct pki_secret *buf = NULL;
    EVP_PKEY *key = NULL;
    size_t n;

    fp = fopen(path, "rbe");
    MK_ENSURE_ERRNO(fp != NULL, err, errno == ENOENT ? MK_ERR_NOTFOUND : MK_ERR_IO, "%s: open",
                    path);
    /* Unencrypted key bytes go to guarded memory only, never a stdio buffer we do not wipe. */
    setvbuf(fp, NULL, _IONBF, 0);
    buf = pki_secret_new(KEY_FILE_MAX + 1, err);
    MK_GUARD_PTR(buf);
    n = fread(pki_secret_mut(buf), 1, KEY_FILE_MAX + 1, fp);
    MK_ENSURE_ERRNO(!ferror(fp), err, MK_ERR_IO, "%s: read", path);
    MK_ENSURE(n <= KEY_FILE_MAX, err, MK_ERR_INVALID, "%s: larger than %d bytes, not a key", path,
              KEY_FILE_MAX);
    MK_ENSURE(n > 0, err, MK_ERR_INVALID, "%s: empty file", path);
    key = pki_key_from_pem(pki_secret_data(buf), n, passphrase, err);
    if (key == NULL) {
        mk_err_prefix(err, "%s", path);
    }
out:
    if (fp != NULL) {
        fclose(fp);
    }
    pki_secret_free(buf);
    return key;
}
