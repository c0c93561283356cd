/*
 * fuzz_aws_error.c: aws_decode_error() on hostile error answers (JSON and XML bodies from
 * whatever answers on the endpoint).  The message must stay one printable line: it goes into
 * logs and onto the terminal.  An input "TYPE\n\nBODY" also sets x-amzn-ErrorType to TYPE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/client-int.h"
#include "aws/http.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aws_http_response resp;
    struct mk_err err;
    memset(&resp, 0, sizeof(resp));
    const char *body = (const char *)data;
    size_t len = size;
    const uint8_t *sep = memmem(data, size, "\n\n", 2);
    if (sep != NULL && (size_t)(sep - data) < sizeof(resp.error_type)) {
        memcpy(resp.error_type, data, (size_t)(sep - data));
        body = (const char *)sep + 2;
        len = size - (size_t)(sep - data) - 2;
    }
    resp.status = size > 0 ? 400 + data[size - 1] : 500;
    if (aws_buf_append(&resp.body, body, len, NULL) != 0) {
        abort();
    }
    aws_decode_error(&resp, "fuzz", &err);
    fuzz_expect_one_line(&err);
    aws_buf_free(&resp.body);
    return 0;
}
