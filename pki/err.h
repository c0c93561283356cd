/*
 * err.h: the one error style of mskpki (see ../shared/STYLE.md, rules 3 to 5).
 *
 * Functions return int (0 on success, -1 on failure) or a pointer (NULL on failure) and fill a
 * caller-passed struct mk_err with a code and a one-line message that names the file, line,
 * field or call that failed.  The guard macros branch only on failure and jump to the function's
 * single "out:" label, so the happy path reads straight down:
 *
 *     int rc = -1;
 *     MK_GUARD(pki_thing_do(x, err));
 *     MK_ENSURE(n > 0, err, MK_ERR_INVALID, "%s: line %d: count must be positive", path, line);
 *     MK_GUARD_OSSL(EVP_PKEY_keygen(ctx, &pkey) == 1, err, MK_ERR_CRYPTO, "EVP_PKEY_keygen");
 *     rc = 0;
 * out:
 *     cleanup...;
 *     return rc;
 *
 * The struct holds no pointers, so it never needs freeing.  Messages never contain secrets.
 */
#ifndef MK_ERR_H
#define MK_ERR_H

#include <stddef.h>

#define MK_MUST_CHECK __attribute__((warn_unused_result))
#define MK_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Test builds (MK_TESTING) make file-local functions visible to the unit tests. */
#ifdef MK_TESTING
#define MK_TESTABLE
#else
#define MK_TESTABLE static
#endif

enum mk_code {
    MK_OK = 0,
    MK_ERR_NOMEM,    /* allocation failed */
    MK_ERR_IO,       /* a system call on a file or directory failed */
    MK_ERR_CONFIG,   /* configuration file or value is wrong */
    MK_ERR_USAGE,    /* command line is wrong */
    MK_ERR_INVALID,  /* input data (PEM, DER, JSON, CSR...) is malformed */
    MK_ERR_CRYPTO,   /* an OpenSSL or libsodium operation failed */
    MK_ERR_VERIFY,   /* a signature, chain, key match or validity check failed */
    MK_ERR_PERM,     /* ownership or permission refused (unsafe directory, wide mode) */
    MK_ERR_NOTFOUND, /* the thing asked for does not exist */
    MK_ERR_NET,      /* connection, TLS or HTTP transport failure */
    MK_ERR_TIMEOUT,  /* a deadline passed */
    MK_ERR_AWS,      /* an AWS service answered with an error; see ext_code */
    MK_ERR_CREDS,    /* no usable AWS credentials */
    MK_ERR_STATE,    /* an operation is not possible in the current state */
    MK_ERR_PENDING,  /* the work was accepted but is not finished yet (retry later) */
    MK_ERR_REFUSED,  /* the key process's policy refused a request; ext_code is the reason */
    MK_ERR__MAX
};

struct mk_err {
    enum mk_code code;
    /* Service error code when code is MK_ERR_AWS (e.g. "ThrottlingException"), the reason when
     * MK_ERR_REFUSED (agent/keypolicy.h: "subject", "chain", ...), else empty. */
    char ext_code[64];
    /* HTTP status of the failed call when there was one, else 0. */
    int http_status;
    /* One line, no trailing newline. */
    char msg[768];
};

/* Returns the stable name of a code ("io", "config", ...), never NULL. */
const char *mk_code_str(enum mk_code code);

/* Resets err to MK_OK with an empty message.  err may be NULL. */
void mk_err_clear(struct mk_err *err);

/* Sets code and message.  err may be NULL (the error is then dropped). */
void mk_err_set(struct mk_err *err, enum mk_code code, const char *fmt, ...) MK_PRINTF(3, 4);

/* Like mk_err_set, then appends ": " and strerror(errno) as it was on entry. */
void mk_err_errno(struct mk_err *err, enum mk_code code, const char *fmt, ...) MK_PRINTF(3, 4);

/* Like mk_err_set, then drains the OpenSSL error queue into the message (": reason; reason"). */
void mk_err_ossl(struct mk_err *err, enum mk_code code, const char *fmt, ...) MK_PRINTF(3, 4);

/* Prepends "prefix: " to the existing message, to add context on the way up. */
void mk_err_prefix(struct mk_err *err, const char *fmt, ...) MK_PRINTF(2, 3);

#define MK_GUARD(call)                                                                             \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define MK_GUARD_PTR(ptr)                                                                          \
    do {                                                                                           \
        if ((ptr) == NULL) {                                                                       \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define MK_ENSURE(cond, err, code, ...)                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            mk_err_set((err), (code), __VA_ARGS__);                                                \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define MK_ENSURE_ERRNO(cond, err, code, ...)                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            mk_err_errno((err), (code), __VA_ARGS__);                                              \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define MK_GUARD_OSSL(cond, err, code, ...)                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            mk_err_ossl((err), (code), __VA_ARGS__);                                               \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
