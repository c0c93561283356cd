/* test_agent_keypolicy.c: the key process's policy for CA_ISSUE and KEY_STORE
 * (agent/keypolicy.c): one accepted request of each kind, then one refusal per way an attacker
 * in the network process could bend it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agent/keypolicy.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"

#define DAY 86400L

static char tmpdir[64];
static EVP_PKEY *key;       /* the key process's prepared key */
static EVP_PKEY *other_key; /* the attacker's */
static EVP_PKEY *root_key;
static X509 *root; /* the legitimate CA */
static EVP_PKEY *evil_key;
static X509 *evil_root; /* CN=Attacker Root CA */

static const char *const dns[] = {"client.example.com", "client"};
static const char *const uris[] = {"spiffe://example.org/kafka/client"};
static const struct pki_csr_spec spec = {
    .common_name = "client.example.com",
    .organization = "Example",
    .dns_names = dns,
    .n_dns_names = 2,
    .uris = uris,
    .n_uris = 1,
};

/* ---- fixtures ---- */

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for pub named cn, signed by issuer (NULL: self-signed with sign_key).  san and
 * eku may be NULL (left out); ca adds CA:TRUE. */
static X509 *make_cert(EVP_PKEY *pub, const char *subject_o, const char *cn, X509 *issuer,
                       EVP_PKEY *sign_key, const char *san, const char *eku, int ca, long from,
                       long to)
{
    X509 *c = X509_new();
    X509_NAME *n;
    time_t now = time(NULL);

    assert_non_null(c);
    X509_set_version(c, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(c), (long)rand() + 1);
    n = X509_get_subject_name(c);
    if (subject_o != NULL) {
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)subject_o, -1, -1,
                                   0);
    }
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_time_adj_ex(X509_getm_notBefore(c), 0, from, &now);
    X509_time_adj_ex(X509_getm_notAfter(c), 0, to, &now);
    X509_set_pubkey(c, pub);
    add_ext(c, issuer != NULL ? issuer : c, NID_basic_constraints,
            ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ca) {
        add_ext(c, issuer != NULL ? issuer : c, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (san != NULL) {
        add_ext(c, issuer != NULL ? issuer : c, NID_subject_alt_name, san);
    }
    if (eku != NULL) {
        add_ext(c, issuer != NULL ? issuer : c, NID_ext_key_usage, eku);
    }
    assert_true(X509_sign(c, sign_key, EVP_sha256()) > 0);
    return c;
}

static const char *good_san =
    "DNS:client.example.com,DNS:client,URI:spiffe://example.org/kafka/client";

/* A client leaf for pub under root, with the given twists. */
static X509 *leaf_with(EVP_PKEY *pub, const char *cn, const char *san, const char *eku, int ca,
                       long to)
{
    return make_cert(pub, "Example", cn, root, root_key, san, eku, ca, -60, to);
}

static X509 *good_leaf(void)
{
    return leaf_with(key, "client.example.com", good_san, "clientAuth", 0, 30 * DAY);
}

static STACK_OF(X509) * stack_of(X509 *a, X509 *b)
{
    STACK_OF(X509) *s = sk_X509_new_null();

    assert_non_null(s);
    if (a != NULL) {
        X509_up_ref(a);
        sk_X509_push(s, a);
    }
    if (b != NULL) {
        X509_up_ref(b);
        sk_X509_push(s, b);
    }
    return s;
}

static int setup(void **state)
{
    struct mk_err err;

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_agent_keypolicy.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    key = pki_key_generate(PKI_KEY_EC_P256, &err);
    other_key = pki_key_generate(PKI_KEY_EC_P256, &err);
    root_key = pki_key_generate(PKI_KEY_EC_P256, &err);
    evil_key = pki_key_generate(PKI_KEY_EC_P256, &err);
    if (key == NULL || other_key == NULL || root_key == NULL || evil_key == NULL) {
        return -1;
    }
    root = make_cert(root_key, NULL, "mskpki local CA", NULL, root_key, NULL, NULL, 1, -3600,
                     3650 * DAY);
    evil_root = make_cert(evil_key, NULL, "Attacker Root CA", NULL, evil_key, NULL, NULL, 1, -3600,
                          3650 * DAY);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(evil_key);
    X509_free(root);
    X509_free(evil_root);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- CA_ISSUE ---- */

static X509_REQ *csr_for(EVP_PKEY *k, const struct pki_csr_spec *s)
{
    struct mk_err err;
    X509_REQ *r = pki_csr_new(k, s, &err);

    assert_non_null(r);
    return r;
}

/* Expects agent_keypolicy_check_csr to refuse with reason. */
static void csr_refused(X509_REQ *csr, EVP_PKEY *k, long validity, long max, const char *reason)
{
    struct mk_err err;

    mk_err_clear(&err);
    assert_int_equal(agent_keypolicy_check_csr(csr, k, &spec, validity, 30 * DAY, max, &err), -1);
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, reason);
    assert_true(strlen(err.msg) > 0);
}

static void test_csr_ok(void **state)
{
    struct pki_csr_spec reordered = spec;
    const char *const dns2[] = {"client", "client.example.com"};
    struct mk_err err;
    X509_REQ *csr = csr_for(key, &spec);

    (void)state;
    assert_int_equal(agent_keypolicy_check_csr(csr, key, &spec, 30 * DAY, 30 * DAY, 0, &err), 0);
    assert_int_equal(agent_keypolicy_check_csr(csr, key, &spec, 3600, 30 * DAY, 30 * DAY, &err), 0);
    X509_REQ_free(csr);
    /* The SANs are a set: their order does not matter. */
    reordered.dns_names = dns2;
    csr = csr_for(key, &reordered);
    assert_int_equal(agent_keypolicy_check_csr(csr, key, &spec, 30 * DAY, 30 * DAY, 0, &err), 0);
    X509_REQ_free(csr);
}

static void test_csr_wrong_key(void **state)
{
    X509_REQ *csr = csr_for(other_key, &spec);

    (void)state;
    csr_refused(csr, key, 30 * DAY, 0, "key");
    /* No prepared key at all. */
    csr_refused(csr, NULL, 30 * DAY, 0, "key");
    X509_REQ_free(csr);
}

static void test_csr_subject(void **state)
{
    struct pki_csr_spec s = spec;
    X509_REQ *csr;

    (void)state;
    /* The attack of issue 16: CN=kafka-admin with the key process's key. */
    s.common_name = "kafka-admin";
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "subject");
    X509_REQ_free(csr);
    /* Only the case differs: Kafka's principal is the exact string. */
    s.common_name = "CLIENT.example.com";
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "subject");
    X509_REQ_free(csr);
    /* An extra attribute. */
    s = spec;
    s.organizational_unit = "Admins";
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "subject");
    X509_REQ_free(csr);
    /* A missing attribute. */
    s = spec;
    s.organization = NULL;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "subject");
    X509_REQ_free(csr);
}

static void test_csr_sans(void **state)
{
    const char *const extra[] = {"client.example.com", "client", "kafka-admin.example.com"};
    const char *const fewer[] = {"client.example.com"};
    const char *const twice[] = {"client.example.com", "client.example.com"};
    const char *const as_dns[] = {"spiffe://example.org/kafka/client"};
    struct pki_csr_spec s = spec;
    X509_REQ *csr;

    (void)state;
    s.dns_names = extra;
    s.n_dns_names = 3;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "san");
    X509_REQ_free(csr);
    s = spec;
    s.dns_names = fewer;
    s.n_dns_names = 1;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "san");
    X509_REQ_free(csr);
    /* A duplicate stands in for a missing one: refused. */
    s.dns_names = twice;
    s.n_dns_names = 2;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "san");
    X509_REQ_free(csr);
    /* The URI's text as a DNS name: same bytes, another type. */
    s = spec;
    s.uris = NULL;
    s.n_uris = 0;
    s.dns_names = as_dns;
    s.n_dns_names = 1;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "san");
    X509_REQ_free(csr);
    /* No SAN extension at all. */
    s = spec;
    s.dns_names = NULL;
    s.n_dns_names = 0;
    s.uris = NULL;
    s.n_uris = 0;
    csr = csr_for(key, &s);
    csr_refused(csr, key, 30 * DAY, 0, "san");
    X509_REQ_free(csr);
}

static void test_csr_validity(void **state)
{
    X509_REQ *csr = csr_for(key, &spec);

    (void)state;
    csr_refused(csr, key, 365 * DAY, 0, "validity");
    csr_refused(csr, key, 3650 * DAY, 0, "validity");
    csr_refused(csr, key, 30 * DAY + 1, 0, "validity");
    csr_refused(csr, key, 0, 0, "validity");
    csr_refused(csr, key, -1, 0, "validity");
    /* Within the block's validity, beyond the local CA's max_validity. */
    csr_refused(csr, key, 10 * DAY, 7 * DAY, "validity");
    X509_REQ_free(csr);
}

/* ---- KEY_STORE ---- */

/* Runs the leaf check with the chain [chain_top] against anchors of kind. */
static int check_leaf(X509 *leaf, STACK_OF(X509) * chain, STACK_OF(X509) * anchors,
                      enum agent_keypolicy_anchor_kind kind, X509 **anchor, struct mk_err *err)
{
    struct agent_keypolicy_leaf in;

    memset(&in, 0, sizeof(in));
    in.leaf = leaf;
    in.chain = chain;
    in.key = key;
    in.spec = &spec;
    in.now = time(NULL);
    in.anchors = anchors;
    in.kind = kind;
    mk_err_clear(err);
    return agent_keypolicy_check_leaf(&in, anchor, err);
}

/* Expects the leaf (chain [root], anchors [root], local) to be refused with reason; frees it. */
static void leaf_refused(X509 *leaf, const char *reason)
{
    STACK_OF(X509) *chain = stack_of(root, NULL);
    STACK_OF(X509) *anchors = stack_of(root, NULL);
    struct mk_err err;

    assert_int_equal(check_leaf(leaf, chain, anchors, AGENT_KEYPOLICY_ANCHOR_LOCAL, NULL, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, reason);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(anchors, X509_free);
}

static void test_leaf_ok(void **state)
{
    STACK_OF(X509) *chain = stack_of(root, NULL);
    STACK_OF(X509) *anchors = stack_of(evil_root, root);
    X509 *leaf = good_leaf();
    X509 *anchor = NULL;
    struct mk_err err;

    (void)state;
    assert_int_equal(check_leaf(leaf, chain, anchors, AGENT_KEYPOLICY_ANCHOR_LOCAL, &anchor, &err),
                     0);
    /* The anchor it verified to, not merely the first one. */
    assert_non_null(anchor);
    assert_int_equal(X509_cmp(anchor, root), 0);
    X509_free(anchor);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(anchors, X509_free);
}

static void test_leaf_wrong_key(void **state)
{
    (void)state;
    /* A leaf for a foreign key, properly signed by the CA. */
    leaf_refused(leaf_with(other_key, "client.example.com", good_san, "clientAuth", 0, 30 * DAY),
                 "key");
}

static void test_leaf_subject_and_sans(void **state)
{
    (void)state;
    leaf_refused(leaf_with(key, "kafka-admin", good_san, "clientAuth", 0, 30 * DAY), "subject");
    leaf_refused(leaf_with(key, "client.example.com",
                           "DNS:client.example.com,DNS:client,"
                           "URI:spiffe://example.org/kafka/client,DNS:kafka-admin",
                           "clientAuth", 0, 30 * DAY),
                 "san");
    leaf_refused(leaf_with(key, "client.example.com",
                           "DNS:client.example.com,DNS:client,"
                           "URI:spiffe://example.org/kafka/client,IP:10.0.0.1",
                           "clientAuth", 0, 30 * DAY),
                 "san");
    leaf_refused(
        leaf_with(key, "client.example.com", "DNS:client.example.com", "clientAuth", 0, 30 * DAY),
        "san");
    leaf_refused(leaf_with(key, "client.example.com", NULL, "clientAuth", 0, 30 * DAY), "san");
}

static void test_leaf_usage(void **state)
{
    (void)state;
    leaf_refused(leaf_with(key, "client.example.com", good_san, "serverAuth", 0, 30 * DAY),
                 "client_auth");
    leaf_refused(
        leaf_with(key, "client.example.com", good_san, "serverAuth,codeSigning", 0, 30 * DAY),
        "client_auth");
    leaf_refused(leaf_with(key, "client.example.com", good_san, "clientAuth", 1, 30 * DAY),
                 "ca_flag");
}

static void test_leaf_no_eku(void **state)
{
    STACK_OF(X509) *chain = stack_of(root, NULL);
    X509 *leaf = leaf_with(key, "client.example.com", good_san, NULL, 0, 30 * DAY);
    struct mk_err err;

    (void)state;
    /* No EKU is any purpose (RFC 5280 4.2.1.12): accepted, as moto issues them. */
    assert_int_equal(check_leaf(leaf, chain, chain, AGENT_KEYPOLICY_ANCHOR_LOCAL, NULL, &err), 0);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
}

static void test_leaf_validity(void **state)
{
    (void)state;
    /* Expired: the chain does not verify now. */
    leaf_refused(leaf_with(key, "client.example.com", good_san, "clientAuth", 0, -30), "chain");
}

static void test_leaf_attacker_root(void **state)
{
    X509 *leaf = make_cert(key, "Example", "client.example.com", evil_root, evil_key, good_san,
                           "clientAuth", 0, -60, 30 * DAY);
    STACK_OF(X509) *chain = stack_of(evil_root, NULL);
    STACK_OF(X509) *anchors = stack_of(root, NULL);
    struct mk_err err;

    (void)state;
    /* Local CA: a chain to another root is simply a chain that does not verify. */
    assert_int_equal(check_leaf(leaf, chain, anchors, AGENT_KEYPOLICY_ANCHOR_LOCAL, NULL, &err),
                     -1);
    assert_string_equal(err.ext_code, "chain");
    /* Pinned: the same chain is an anchor change, and the message says how to accept one. */
    assert_int_equal(check_leaf(leaf, chain, anchors, AGENT_KEYPOLICY_ANCHOR_PINNED, NULL, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, "anchor_change");
    assert_non_null(strstr(err.msg, "trust_anchor_file"));
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(anchors, X509_free);
}

static void test_leaf_forged_intermediate(void **state)
{
    /* An intermediate with the right issuer name but the attacker's signature. */
    EVP_PKEY *sub_key = other_key;
    X509 *forged =
        make_cert(sub_key, NULL, "issuing CA", root, evil_key, NULL, NULL, 1, -3600, 365 * DAY);
    X509 *leaf = make_cert(key, "Example", "client.example.com", forged, sub_key, good_san,
                           "clientAuth", 0, -60, 30 * DAY);
    STACK_OF(X509) *chain = stack_of(forged, root);
    STACK_OF(X509) *anchors = stack_of(root, NULL);
    struct mk_err err;

    (void)state;
    assert_int_equal(check_leaf(leaf, chain, anchors, AGENT_KEYPOLICY_ANCHOR_PINNED, NULL, &err),
                     -1);
    /* The top is the pinned root: not an anchor change, a chain that does not verify. */
    assert_string_equal(err.ext_code, "chain");
    X509_free(leaf);
    X509_free(forged);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(anchors, X509_free);
}

/* ---- anchors and the pin ---- */

static void write_pem(const char *path, X509 *cert)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, cert), 1);
    fclose(f);
}

static void test_anchor_pin_and_change(void **state)
{
    char pin[128];
    char conf_anchor[128];
    STACK_OF(X509) *chain = stack_of(root, NULL);
    STACK_OF(X509) *evil_chain = stack_of(evil_root, NULL);
    STACK_OF(X509) *empty = sk_X509_new_null();
    STACK_OF(X509) *anchors = NULL;
    enum agent_keypolicy_anchor_kind kind;
    X509 *leaf = good_leaf();
    X509 *evil_leaf = make_cert(key, "Example", "client.example.com", evil_root, evil_key, good_san,
                                "clientAuth", 0, -60, 30 * DAY);
    X509 *anchor = NULL;
    struct mk_err err;

    (void)state;
    assert_int_equal(agent_keypolicy_pin_path(tmpdir, pin, sizeof(pin)), 0);
    snprintf(conf_anchor, sizeof(conf_anchor), "%s/anchor.pem", tmpdir);
    /* First use: an empty chain has nothing to pin. */
    assert_int_equal(agent_keypolicy_anchors(NULL, pin, NULL, empty, &anchors, &kind, &err), -1);
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, "chain");
    /* First use: the top of the chain, pinned after the check. */
    assert_int_equal(agent_keypolicy_anchors(NULL, pin, empty, chain, &anchors, &kind, &err), 0);
    assert_int_equal(kind, AGENT_KEYPOLICY_ANCHOR_FIRST_USE);
    assert_int_equal(check_leaf(leaf, chain, anchors, kind, &anchor, &err), 0);
    assert_int_equal(agent_keypolicy_pin_write(pin, "client", anchor, kind, &err), 0);
    sk_X509_pop_free(anchors, X509_free);
    X509_free(anchor);
    anchor = NULL;
    /* Later: the pin, and a chain to another root is an anchor change. */
    assert_int_equal(agent_keypolicy_anchors(NULL, pin, NULL, evil_chain, &anchors, &kind, &err),
                     0);
    assert_int_equal(kind, AGENT_KEYPOLICY_ANCHOR_PINNED);
    assert_int_equal(check_leaf(evil_leaf, evil_chain, anchors, kind, NULL, &err), -1);
    assert_string_equal(err.ext_code, "anchor_change");
    assert_int_equal(check_leaf(leaf, chain, anchors, kind, NULL, &err), 0);
    sk_X509_pop_free(anchors, X509_free);
    /* The configuration names the new anchor: accepted, and the pin follows it. */
    write_pem(conf_anchor, evil_root);
    assert_int_equal(
        agent_keypolicy_anchors(conf_anchor, pin, NULL, evil_chain, &anchors, &kind, &err), 0);
    assert_int_equal(kind, AGENT_KEYPOLICY_ANCHOR_CONFIG);
    assert_int_equal(check_leaf(leaf, chain, anchors, kind, NULL, &err), -1);
    assert_string_equal(err.ext_code, "chain");
    assert_int_equal(check_leaf(evil_leaf, evil_chain, anchors, kind, &anchor, &err), 0);
    assert_int_equal(agent_keypolicy_pin_write(pin, "client", anchor, kind, &err), 0);
    sk_X509_pop_free(anchors, X509_free);
    X509_free(anchor);
    anchor = NULL;
    unlink(conf_anchor);
    assert_int_equal(agent_keypolicy_anchors(NULL, pin, empty, chain, &anchors, &kind, &err), 0);
    assert_int_equal(kind, AGENT_KEYPOLICY_ANCHOR_PINNED);
    assert_int_equal(check_leaf(evil_leaf, evil_chain, anchors, kind, NULL, &err), 0);
    assert_int_equal(check_leaf(leaf, chain, anchors, kind, NULL, &err), -1);
    assert_string_equal(err.ext_code, "anchor_change");
    sk_X509_pop_free(anchors, X509_free);
    /* A configured file that cannot be read is an error, not first use. */
    assert_int_equal(agent_keypolicy_anchors(conf_anchor, pin, NULL, chain, &anchors, &kind, &err),
                     -1);
    assert_int_not_equal(err.code, MK_ERR_REFUSED);
    X509_free(leaf);
    X509_free(evil_leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(evil_chain, X509_free);
    sk_X509_free(empty);
}

static void test_anchor_first_use_prefers_stored_chain(void **state)
{
    char pin[128];
    STACK_OF(X509) *stored = stack_of(root, NULL);
    STACK_OF(X509) *evil_chain = stack_of(evil_root, NULL);
    STACK_OF(X509) *anchors = NULL;
    enum agent_keypolicy_anchor_kind kind;
    X509 *evil_leaf = make_cert(key, "Example", "client.example.com", evil_root, evil_key, good_san,
                                "clientAuth", 0, -60, 30 * DAY);
    struct mk_err err;

    (void)state;
    snprintf(pin, sizeof(pin), "%s/no-such-pin.pem", tmpdir);
    /* An upgraded host: outputs exist, no pin yet.  The first store after the upgrade must not
     * pin whatever it is offered: the stored chain's top is the anchor. */
    assert_int_equal(agent_keypolicy_anchors(NULL, pin, stored, evil_chain, &anchors, &kind, &err),
                     0);
    assert_int_equal(kind, AGENT_KEYPOLICY_ANCHOR_FIRST_USE);
    assert_int_equal(sk_X509_num(anchors), 1);
    assert_int_equal(X509_cmp(sk_X509_value(anchors, 0), root), 0);
    assert_int_equal(check_leaf(evil_leaf, evil_chain, anchors, kind, NULL, &err), -1);
    assert_string_equal(err.ext_code, "chain");
    sk_X509_pop_free(anchors, X509_free);
    X509_free(evil_leaf);
    sk_X509_pop_free(stored, X509_free);
    sk_X509_pop_free(evil_chain, X509_free);
}

static void test_revoke_current(void **state)
{
    X509 *current = good_leaf();
    X509 *replaced = good_leaf();
    struct mk_err err;

    (void)state;
    assert_int_equal(agent_keypolicy_check_revoke(replaced, current, &err), 0);
    assert_int_equal(agent_keypolicy_check_revoke(replaced, NULL, &err), 0);
    assert_int_equal(agent_keypolicy_check_revoke(current, current, &err), -1);
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, "revoke_current");
    X509_free(current);
    X509_free(replaced);
}

static void test_reason_names(void **state)
{
    struct mk_err err;

    (void)state;
    assert_string_equal(agent_keypolicy_reason_name(AGENT_KEYPOLICY_ANCHOR_CHANGE),
                        "anchor_change");
    assert_string_equal(agent_keypolicy_reason_name(AGENT_KEYPOLICY__MAX), "unknown");
    assert_string_equal(agent_keypolicy_reason_name(-1), "unknown");
    for (int r = 0; r < AGENT_KEYPOLICY__MAX; r++) {
        assert_string_not_equal(agent_keypolicy_reason_name(r), "unknown");
    }
    agent_keypolicy_refuse(&err, AGENT_KEYPOLICY_SAN, "keys: %s", "x");
    assert_int_equal(err.code, MK_ERR_REFUSED);
    assert_string_equal(err.ext_code, "san");
    assert_string_equal(err.msg, "keys: x");
    assert_string_equal(mk_code_str(MK_ERR_REFUSED), "refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_ok),
        cmocka_unit_test(test_csr_wrong_key),
        cmocka_unit_test(test_csr_subject),
        cmocka_unit_test(test_csr_sans),
        cmocka_unit_test(test_csr_validity),
        cmocka_unit_test(test_leaf_ok),
        cmocka_unit_test(test_leaf_wrong_key),
        cmocka_unit_test(test_leaf_subject_and_sans),
        cmocka_unit_test(test_leaf_usage),
        cmocka_unit_test(test_leaf_no_eku),
        cmocka_unit_test(test_leaf_validity),
        cmocka_unit_test(test_leaf_attacker_root),
        cmocka_unit_test(test_leaf_forged_intermediate),
        cmocka_unit_test(test_anchor_pin_and_change),
        cmocka_unit_test(test_anchor_first_use_prefers_stored_chain),
        cmocka_unit_test(test_revoke_current),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
