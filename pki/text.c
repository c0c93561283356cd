/* text.c: see text.h. */
#include "pki/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The replacement for c in a label value, or NULL when c stands for itself. */
static const char *prom_label_rep(char c)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '"':
        return "\\\"";
    case '\n':
        return "\\n";
    default:
        return NULL;
    }
}

int mk_prom_label_escape(const char *value, char *buf, size_t size)
{
    size_t j = 0;

    if (size == 0) {
        return -1;
    }
    buf[0] = '\0';
    for (size_t i = 0; value[i] != '\0'; i++) {
        const char *rep = prom_label_rep(value[i]);
        size_t l = rep != NULL ? strlen(rep) : 1;
        if (j + l >= size) {
            buf[j] = '\0';
            return -1;
        }
        if (rep != NULL) {
            memcpy(buf + j, rep, l);
        } else {
            buf[j] = value[i];
        }
        j += l;
    }
    buf[j] = '\0';
    return 0;
}

void mk_prom_label_put(FILE *out, const char *value)
{
    for (; *value != '\0'; value++) {
        const char *rep = prom_label_rep(*value);
        if (rep != NULL) {
            fputs(rep, out);
        } else {
            fputc(*value, out);
        }
    }
}

int mk_parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (text == NULL || text[0] == '\0' || text[0] == ' ' || text[0] == '+') {
        return -1;
    }
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}
