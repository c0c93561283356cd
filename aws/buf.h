/*
 * buf.h: a growable byte buffer (always NUL-terminated) for building requests and reading answers.
 *
 * A struct aws_buf lives on the caller's stack; aws_buf_free() releases (and wipes, since request
 * and answer bodies can hold credentials) its memory.  Appends return 0 or -1 (out of memory, err
 * filled); after a failure the buffer is still valid and can be freed.
 */
#ifndef AWS_BUF_H
#define AWS_BUF_H

#include <stddef.h>

#include "pki/err.h"

struct aws_buf {
    char *data; /* NULL until the first append; then NUL-terminated after len bytes */
    size_t len;
    size_t cap;
};

int aws_buf_append(struct aws_buf *b, const void *data, size_t len,
                   struct mk_err *err) MK_MUST_CHECK;
int aws_buf_puts(struct aws_buf *b, const char *s, struct mk_err *err) MK_MUST_CHECK;
int aws_buf_printf(struct aws_buf *b, struct mk_err *err, const char *fmt, ...)
    MK_PRINTF(3, 4) MK_MUST_CHECK;
/* Appends s percent-encoded as SigV4 wants: unreserved bytes (A-Z a-z 0-9 - _ . ~) kept, '/' kept
 * when keep_slash, everything else %XX with upper-case hex. */
int aws_buf_uri_encode(struct aws_buf *b, const char *s, size_t len, int keep_slash,
                       struct mk_err *err) MK_MUST_CHECK;
/* Takes the data out: the caller owns it (free() it; NULL when nothing was appended). */
char *aws_buf_steal(struct aws_buf *b);
/* Wipes and frees the memory; the buffer is empty again afterwards. */
void aws_buf_free(struct aws_buf *b);

/* Frees a NUL-terminated string after wiping it (for strings that may hold secrets). NULL ok. */
void aws_str_wipe_free(char *s);

#endif
