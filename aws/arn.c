/* arn.c: see arn.h. */
#include "aws/arn.h"

#include <string.h>

const char *aws_arn_region(const char *arn, char *buf, size_t size)
{
    const char *p = arn;
    const char *end;

    if (arn == NULL || strncmp(arn, "arn:", 4) != 0) {
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        p = strchr(p, ':');
        if (p == NULL) {
            return NULL;
        }
        p++;
    }
    end = strchr(p, ':');
    if (end == NULL || end == p || (size_t)(end - p) >= size) {
        return NULL;
    }
    for (const char *c = p; c < end; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) {
            return NULL;
        }
    }
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}
