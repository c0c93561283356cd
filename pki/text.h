/*
 * text.h: escaping for the text formats that both programs emit, and the one number parser.
 * The agent's /metrics and mskpkictl's --format prometheus outputs write label values through
 * certificate name or ARN that contains a quote or a newline cannot break a scrape.
 */
#ifndef MK_TEXT_H
#define MK_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "pki/err.h"

/*
 * Writes value into buf as a Prometheus label value: backslash, double quote and newline escaped
 * (text exposition format 0.0.4).  Returns 0, or -1 when buf (size bytes) is too small; buf is
 * always NUL-terminated when size > 0.
 */
int mk_prom_label_escape(const char *value, char *buf, size_t size) MK_MUST_CHECK;

/* The same escape written to out. */
void mk_prom_label_put(FILE *out, const char *value);

/*
 * Parses a whole decimal number in [min, max]: no sign, space or trailing text, no overflow (the
 * checks every strtol() call site needs).  Returns 0 and sets *out, or -1 and leaves it.
 */
int mk_parse_long(const char *text, long min, long max, long *out) MK_MUST_CHECK;

#endif
