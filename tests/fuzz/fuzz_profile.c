/*
 * fuzz_profile.c: the shared AWS config/credentials file parser (~/.aws/config, credentials).
 * The first byte selects the config syntax; a parsed file is queried for the properties the
 * credentials chain reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/profile.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    if (size < 1) {
        return 0;
    }
    char *text = malloc(size);
    if (text == NULL) {
        abort();
    }
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct aws_profile_file *f = aws_profile_file_parse(text, "fuzz", data[0] & 1, &err);
    if (f == NULL) {
        fuzz_expect_one_line(&err);
    }
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key",
                                       "aws_session_token", "region", "role_arn",
                                       "source_profile", "credential_process", NULL};
    static const char *const profiles[] = {"default", "fuzz", "a", NULL};
    for (size_t i = 0; profiles[i] != NULL; i++) {
        (void)aws_profile_has(f, profiles[i]);
        for (size_t k = 0; keys[k] != NULL; k++) {
            const char *v = aws_profile_get(f, profiles[i], keys[k]);
            if (v != NULL && strlen(v) > size) {
                abort();
            }
        }
    }
    aws_profile_file_free(f);
    free(text);
    return 0;
}
