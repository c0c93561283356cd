/*
 * fuzz_creds.c: the AWS credential answers, the one input that carries secrets.
 *
 * Selector byte, then the answer:
 *   even: a credential_process answer (JSON: Version, AccessKeyId, SecretAccessKey,
 *         SessionToken, Expiration), through aws_creds_from_process() (aws/creds.c) with the
 *         answer in a file the command cats.  Container and IMDS answers go through the same
 *         creds_from_json() with another token key; they need an HTTP answer, which this
 *         target does not fake.
 *   odd:  an STS AssumeRole / AssumeRoleWithWebIdentity answer (XML), through
 *         aws_xml_parse() and the aws_xml_get() paths creds_from_sts() reads.
 * Beyond fuzz.h's one-line error, a failed parse must not quote the answer's secret: the
 * error goes to logs (issue 8's secrets rule).  The command spawns /bin/sh per input, so this
 * target is slow (hundreds of runs a second); the JSON parser itself is jansson.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/creds.h"
#include "aws/xml.h"
#include "fuzz.h"

/* Not in a header: MK_TESTABLE (pki/err.h) makes it visible in test and fuzz builds only. */
int aws_creds_from_process(const char *command, long timeout_ms, struct aws_creds **out,
                           struct mk_err *err);

static char answer_dir[64];
static char answer_path[96];
static char command[128];

/* libFuzzer ends with exit(): leave no temp dir per run behind. */
static void remove_answer(void)
{
    unlink(answer_path);
    rmdir(answer_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(answer_dir, sizeof(answer_dir), "/tmp/mskpki-fuzz-creds.XXXXXX");
    if (mkdtemp(answer_dir) == NULL) {
        abort();
    }
    snprintf(answer_path, sizeof(answer_path), "%s/answer", answer_dir);
    atexit(remove_answer);
    /* exec: one process per input, not two.  The path is mkdtemp's: no shell metacharacters. */
    snprintf(command, sizeof(command), "exec cat %s", answer_path);
    return 0;
}

/*
 * The error must not contain secret, a value the answer handed us.  Only values shaped like an
 * AWS secret count (8+ characters with a digit and one of "/+="), so that a value equal to
 * the fixed words of a message ("credentials", "Credentials/SessionToken") is no finding; and
 * only when the answer holds it once, since an Expiration equal to the secret may rightly be
 * quoted as the bad Expiration.
 */
static void expect_not_quoted(const struct mk_err *err, const char *secret, const uint8_t *p,
                              size_t n)
{
    size_t len = secret != NULL ? strlen(secret) : 0;
    const uint8_t *first;

    if (len < 8 || strpbrk(secret, "0123456789") == NULL || strpbrk(secret, "/+=") == NULL ||
        strstr(err->msg, secret) == NULL) {
        return;
    }
    first = memmem(p, n, secret, len);
    if (first != NULL && memmem(first + 1, n - (size_t)(first + 1 - p), secret, len) != NULL) {
        return;
    }
    fprintf(stderr, "error quotes a secret of the answer: [%s]\n", err->msg);
    abort();
}

static void fuzz_process(const uint8_t *p, size_t n)
{
    struct mk_err err;
    struct aws_creds *c = NULL;
    FILE *f = fopen(answer_path, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        abort();
    }
    int rc = aws_creds_from_process(command, 0, &c, &err);
    if (rc == 1) {
        if (c == NULL || c->secret_access_key == NULL || c->access_key_id[0] == '\0') {
            abort();
        }
        aws_creds_free(c);
        return;
    }
    if (rc != -1 || c != NULL) {
        abort();
    }
    fuzz_expect_one_line(&err);
    /* What a leak would look like: the secrets as the answer gives them. */
    json_t *j = json_loadb((const char *)p, n, 0, NULL);
    if (json_is_object(j)) {
        expect_not_quoted(&err, json_string_value(json_object_get(j, "SecretAccessKey")), p, n);
        expect_not_quoted(&err, json_string_value(json_object_get(j, "SessionToken")), p, n);
    }
    json_decref(j);
}

static void fuzz_sts(const uint8_t *p, size_t n)
{
    static const char *const paths[] = {"Credentials/AccessKeyId",  "Credentials/SecretAccessKey",
                                        "Credentials/SessionToken", "Credentials/Expiration",
                                        "AssumedRoleUser/Arn",      NULL};
    struct mk_err err;
    struct aws_xml *x = aws_xml_parse((const char *)p, n, &err);

    if (x == NULL) {
        fuzz_expect_one_line(&err);
        return;
    }
    char *secret = aws_xml_get(x, "Credentials/SecretAccessKey", &err);
    for (size_t i = 0; paths[i] != NULL; i++) {
        char *v = aws_xml_get(x, paths[i], &err);
        if (v == NULL) {
            fuzz_expect_one_line(&err);
            expect_not_quoted(&err, secret, p, n);
        } else if (strlen(v) > n) {
            abort();
        }
        free(v);
    }
    free(secret);
    aws_xml_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        fuzz_sts(data + 1, size - 1);
    } else {
        fuzz_process(data + 1, size - 1);
    }
    return 0;
}
