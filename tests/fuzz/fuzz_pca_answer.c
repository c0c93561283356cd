/*
 * fuzz_pca_answer.c: the aws-pca backend's answer parsers (GetCertificate,
 * DescribeCertificateAuthority, GetCertificateAuthorityCertificate) on hostile JSON: the answer
 * crosses the network, and a proxy or a fake endpoint controls it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "ca/aws_pca-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    json_t *resp = json_loadb((const char *)data, size, 0, NULL);
    if (resp == NULL) {
        return 0;
    }
    struct pki_issued got = {NULL, NULL};
    if (pki_pca_certificate_answer(resp, &got, &err) != 0) {
        fuzz_expect_one_line(&err);
    } else if (got.leaf == NULL || got.chain == NULL) {
        abort();
    }
    pki_issued_clear(&got);
    /* The validity comes from the config: any non-negative long up to a few years. */
    long validity = (long)(size % 4) * 86400L * 100L;
    if (pki_pca_check_answer(resp, "arn:fuzz", validity, &err) != 0) {
        fuzz_expect_one_line(&err);
    }
    STACK_OF(X509) *anchors = pki_pca_anchors_answer(resp, "arn:fuzz", &err);
    if (anchors == NULL) {
        fuzz_expect_one_line(&err);
    }
    sk_X509_pop_free(anchors, X509_free);
    json_decref(resp);
    return 0;
}
