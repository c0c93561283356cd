/* err.c: error codes, their names, and message helpers for struct mk_err. */
#include "pki/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static const char *const code_names[MK_ERR__MAX] = {
    [MK_OK] = "ok",
    [MK_ERR_NOMEM] = "nomem",
    [MK_ERR_IO] = "io",
    [MK_ERR_CONFIG] = "config",
    [MK_ERR_USAGE] = "usage",
    [MK_ERR_INVALID] = "invalid",
    [MK_ERR_CRYPTO] = "crypto",
    [MK_ERR_VERIFY] = "verify",
    [MK_ERR_PERM] = "permission",
    [MK_ERR_NOTFOUND] = "notfound",
    [MK_ERR_NET] = "network",
    [MK_ERR_TIMEOUT] = "timeout",
    [MK_ERR_AWS] = "aws",
    [MK_ERR_CREDS] = "credentials",
    [MK_ERR_STATE] = "state",
    [MK_ERR_PENDING] = "pending",
    [MK_ERR_REFUSED] = "refused",
};

const char *mk_code_str(enum mk_code code)
{
    if ((int)code < 0 || code >= MK_ERR__MAX || code_names[code] == NULL) {
        return "unknown";
    }
    return code_names[code];
}

void mk_err_clear(struct mk_err *err)
{
    if (err == NULL) {
        return;
    }
    memset(err, 0, sizeof(*err));
}

/*
 * Messages embed values from files and answers (a config string, an AWS status); a newline or
 * an escape sequence among them would split the one-line error or drive the terminal.  Control
 * characters become spaces, as aws/client.c does for AWS messages.
 */
static void err_one_line(struct mk_err *err)
{
    for (char *c = err->msg; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = ' ';
        }
    }
}

static void err_vset(struct mk_err *err, enum mk_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void err_vset(struct mk_err *err, enum mk_code code, const char *fmt, va_list ap)
{
    err->code = code;
    err->ext_code[0] = '\0';
    err->http_status = 0;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    err_one_line(err);
}

/* Appends text to the message, truncating rather than overflowing. */
static void err_append(struct mk_err *err, const char *text)
{
    size_t used = strlen(err->msg);
    if (used + 1 < sizeof(err->msg)) {
        snprintf(err->msg + used, sizeof(err->msg) - used, "%s", text);
    }
}

void mk_err_set(struct mk_err *err, enum mk_code code, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
}

void mk_err_errno(struct mk_err *err, enum mk_code code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    err_append(err, ": ");
    err_append(err, strerror(saved));
    errno = saved;
}

void mk_err_ossl(struct mk_err *err, enum mk_code code, const char *fmt, ...)
{
    va_list ap;
    unsigned long e;
    char buf[256];
    const char *sep = ": ";

    if (err == NULL) {
        ERR_clear_error();
        return;
    }
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    /* Oldest first: the first reason is usually the root cause. */
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        err_append(err, sep);
        err_append(err, buf);
        sep = "; ";
    }
}

void mk_err_prefix(struct mk_err *err, const char *fmt, ...)
{
    char old[sizeof(err->msg)];
    va_list ap;
    int n;

    if (err == NULL) {
        return;
    }
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg)) {
        err_append(err, ": ");
        err_append(err, old);
    }
    err_one_line(err);
}
