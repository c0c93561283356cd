/*
 * fuzz.h: what every fuzz target asserts about a failure: the error says why, on one line (it
 * goes to logs and terminals, and a value from the input must not split or forge lines).
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/err.h"

static inline void fuzz_expect_one_line(const struct mk_err *err)
{
    for (const char *c = err->msg; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            fprintf(stderr, "error message not one printable line: [%s]\n", err->msg);
            abort();
        }
    }
    if (err->msg[0] == '\0') {
        fprintf(stderr, "failure without an error message\n");
        abort();
    }
}

#endif
