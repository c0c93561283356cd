/*
 * test_agent_keysign.c: the key process side of Roles Anywhere (agent/keysign.c) on a real
 * store: KEY_RA_CERT before and after the first generation, a KEY_RA_SIGN signature that
 * verifies over the string to sign the key process built itself, and every refusal: another
 * certificate, another region, a date that is not now, a malformed hash, a serial that is not the
 * current certificate's, and the rate limit (and its refill).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "agent/ipc.h"
#include "agent/keysign.h"
#include "aws/rolesanywhere.h"
#include "conf/conf.h"
#include "issue/issue.h"
#include "pki/cert.h"
#include "pki/store.h"
#include "tests/store_fixture.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ks {
    struct store_fx fx;
    struct conf *cfg;
    struct fx_pair pair;
    char serial[128];
    int sp[2];
};

static int setup(void **state)
{
    struct ks *k = calloc(1, sizeof(*k));
    struct mk_err err = {0};
    char path[256];
    char text[2048];
    fx_setup(&k->fx);
    snprintf(path, sizeof(path), "%s/mskpki.conf", k->fx.tmp);
    int n = snprintf(
        text, sizeof(text),
        "state_dir = \"%s/state\";\n"
        "ca = { backend = \"aws-pca\"; aws_pca = {\n"
        "  ca_arn = \"arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x\";\n"
        "  roles_anywhere = {\n"
        "    trust_anchor_arn = \"arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/t\";\n"
        "    profile_arn = \"arn:aws:rolesanywhere:eu-west-1:111122223333:profile/p\";\n"
        "    role_arn = \"arn:aws:iam::111122223333:role/r\"; certificate = \"kafka\"; }; }; };\n"
        "certificates = (\n"
        "  { name = \"kafka\"; subject = { common_name = \"host1\"; };\n"
        "    output = { directory = \"%s/kafka\"; key = \"k.key\"; cert = \"k.crt\";\n"
        "               chain = \"chain.pem\"; }; },\n"
        "  { name = \"other\"; subject = { common_name = \"host2\"; };\n"
        "    output = { directory = \"%s/other\"; key = \"k.key\"; cert = \"k.crt\"; }; });\n",
        k->fx.tmp, k->fx.tmp, k->fx.tmp);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    fx_write(path, text, strlen(text));
    k->cfg = conf_load(path, &err);
    if (k->cfg == NULL) {
        fail_msg("%s", err.msg);
    }
    fx_issue(&k->fx, "host1", &k->pair);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(k->pair.leaf), NULL);
    char *dec = BN_bn2dec(bn);
    snprintf(k->serial, sizeof(k->serial), "%s", dec);
    OPENSSL_free(dec);
    BN_free(bn);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, k->sp), 0);
    agent_keysign_test_reset(0);
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    struct ks *k = *state;
    close(k->sp[0]);
    close(k->sp[1]);
    fx_pair_clear(&k->pair);
    conf_free(k->cfg);
    fx_teardown(&k->fx);
    free(k);
    return 0;
}

static void store_generation(struct ks *k)
{
    struct issue_spec spec = {0};
    struct mk_err err = {0};
    const struct conf_certificate *cc = conf_find_certificate(k->cfg, "kafka");
    assert_int_equal(issue_spec_load(cc, &spec, &err), 0);
    assert_int_equal(pki_store_check_dir(cc->output.directory, &err), 0);
    if (pki_store_write(&spec.spec, k->pair.key, k->pair.leaf, k->pair.chain, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    issue_spec_clear(&spec);
}

static struct agent_ipc_msg msg(enum agent_ipc_op op, const char *const *fields, size_t n)
{
    struct agent_ipc_msg m = {0};
    m.op = op;
    m.n = n;
    for (size_t i = 0; i < n; i++) {
        m.f[i] = agent_ipc_s(fields[i]);
    }
    return m;
}

/* Runs a sign request; returns 0 with the signature verified, or -1 with err. */
static int sign(struct ks *k, const char *name, const char *date, const char *region,
                const char *hash, const char *serial, struct mk_err *err)
{
    const char *f[] = {name, date, region, hash, serial};
    struct agent_ipc_msg m = msg(AGENT_IPC_KEY_RA_SIGN, f, 5);
    struct agent_ipc_msg reply = {0};
    struct mk_err e2 = {0};
    if (agent_keysign_op_sign(k->cfg, k->sp[0], &m, err) != 0) {
        return -1;
    }
    assert_int_equal(agent_ipc_recv(k->sp[1], &reply, &e2), 1);
    assert_int_equal(reply.op, AGENT_IPC_OK);
    char *sts = aws_ra_string_to_sign(AWS_RA_ALG_ECDSA, date, region, hash, &e2);
    assert_non_null(sts);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
                                          X509_get0_pubkey(k->pair.leaf)),
                     1);
    assert_int_equal(EVP_DigestVerify(md, reply.f[0].data, reply.f[0].len,
                                      (const unsigned char *)sts, strlen(sts)),
                     1);
    EVP_MD_CTX_free(md);
    free(sts);
    agent_ipc_msg_clear(&reply);
    return 0;
}

static void amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void test_cert(void **state)
{
    struct ks *k = *state;
    struct mk_err err = {0};
    const char *detail = NULL;
    const char *f[] = {"kafka"};
    struct agent_ipc_msg m = msg(AGENT_IPC_KEY_RA_CERT, f, 1);
    struct agent_ipc_msg reply = {0};
    /* No generation yet: "none", so the network process bootstraps with the chain. */
    assert_int_equal(agent_keysign_op_cert(k->cfg, k->sp[0], &m, &detail, &err), -1);
    assert_string_equal(detail, "none");
    store_generation(k);
    detail = NULL;
    assert_int_equal(agent_keysign_op_cert(k->cfg, k->sp[0], &m, &detail, &err), 0);
    assert_int_equal(agent_ipc_recv(k->sp[1], &reply, &err), 1);
    assert_int_equal(reply.n, 2);
    STACK_OF(X509) *leaf = pki_certs_from_mem(reply.f[0].data, reply.f[0].len, &err);
    assert_non_null(leaf);
    assert_int_equal(X509_cmp(sk_X509_value(leaf, 0), k->pair.leaf), 0);
    /* The local CA's chain is its self-signed root alone: no intermediates to send. */
    assert_int_equal(reply.f[1].len, 0);
    sk_X509_pop_free(leaf, X509_free);
    agent_ipc_msg_clear(&reply);
    /* Any other certificate is refused. */
    const char *g[] = {"other"};
    m = msg(AGENT_IPC_KEY_RA_CERT, g, 1);
    assert_int_equal(agent_keysign_op_cert(k->cfg, k->sp[0], &m, &detail, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
}

static void test_sign_and_refusals(void **state)
{
    struct ks *k = *state;
    struct mk_err err = {0};
    char now[17];
    char later[17];
    time_t t = time(NULL);
    amz_date(t, now);
    amz_date(t + 3600, later);
    /* No generation yet. */
    assert_int_equal(sign(k, "kafka", now, "eu-west-1", HASH, k->serial, &err), -1);
    store_generation(k);
    agent_keysign_test_reset(0);
    assert_int_equal(sign(k, "kafka", now, "eu-west-1", HASH, k->serial, &err), 0);
    assert_int_equal(sign(k, "other", now, "eu-west-1", HASH, k->serial, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_int_equal(sign(k, "kafka", now, "us-east-1", HASH, k->serial, &err), -1);
    assert_non_null(strstr(err.msg, "not the trust anchor's"));
    assert_int_equal(sign(k, "kafka", later, "eu-west-1", HASH, k->serial, &err), -1);
    assert_non_null(strstr(err.msg, "is not now"));
    assert_int_equal(sign(k, "kafka", "20261206T041500Z\nX", "eu-west-1", HASH, k->serial, &err),
                     -1);
    assert_int_equal(sign(k, "kafka", now, "eu-west-1", "GET / HTTP/1.1", k->serial, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(sign(k, "kafka", now, "eu-west-1", HASH, "12345", &err), -1);
    assert_non_null(strstr(err.msg, "not the current certificate's"));
}

static void test_rate_limit(void **state)
{
    struct ks *k = *state;
    struct mk_err err = {0};
    char d[17];
    time_t t = time(NULL);
    store_generation(k);
    agent_keysign_test_reset(t);
    amz_date(t, d);
    for (int i = 0; i < AGENT_KEYSIGN_BURST; i++) {
        assert_int_equal(sign(k, "kafka", d, "eu-west-1", HASH, k->serial, &err), 0);
    }
    assert_int_equal(sign(k, "kafka", d, "eu-west-1", HASH, k->serial, &err), -1);
    assert_non_null(strstr(err.msg, "signatures faster than"));
    /* One token back after the refill time. */
    agent_keysign_test_reset(0);
    agent_keysign_test_reset(t);
    for (int i = 0; i < AGENT_KEYSIGN_BURST; i++) {
        assert_int_equal(sign(k, "kafka", d, "eu-west-1", HASH, k->serial, &err), 0);
    }
    agent_keysign_test_reset_clock(t + AGENT_KEYSIGN_REFILL_S);
    assert_int_equal(sign(k, "kafka", d, "eu-west-1", HASH, k->serial, &err), 0);
    assert_int_equal(sign(k, "kafka", d, "eu-west-1", HASH, k->serial, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
