/* buf.c: growable NUL-terminated buffer; see buf.h. */
#include "aws/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Grows to hold len more bytes plus the NUL.  Old memory is wiped, as it may hold a secret. */
static int buf_reserve(struct aws_buf *b, size_t len, struct mk_err *err)
{
    if (b->cap - b->len > len && b->data != NULL) {
        return 0;
    }
    size_t want = b->len + len + 1;
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (cap < want) {
        if (cap > ((size_t)-1) / 2) {
            mk_err_set(err, MK_ERR_NOMEM, "buffer too large");
            return -1;
        }
        cap *= 2;
    }
    char *p = malloc(cap);
    if (p == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory (%zu bytes)", cap);
        return -1;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int aws_buf_append(struct aws_buf *b, const void *data, size_t len, struct mk_err *err)
{
    if (buf_reserve(b, len, err) != 0) {
        return -1;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int aws_buf_puts(struct aws_buf *b, const char *s, struct mk_err *err)
{
    return aws_buf_append(b, s, strlen(s), err);
}

int aws_buf_printf(struct aws_buf *b, struct mk_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        mk_err_set(err, MK_ERR_INVALID, "format error");
        return -1;
    }
    if (buf_reserve(b, (size_t)n, err) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int aws_buf_uri_encode(struct aws_buf *b, const char *s, size_t len, int keep_slash,
                       struct mk_err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (aws_buf_append(b, &s[i], 1, err) != 0) {
                return -1;
            }
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
            if (aws_buf_append(b, enc, 3, err) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

char *aws_buf_steal(struct aws_buf *b)
{
    char *p = b->data;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void aws_buf_free(struct aws_buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void aws_str_wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}
