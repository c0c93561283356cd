/* test_ca_local.c: the embedded local CA backend and the generic CA layer (ca/ca.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/log.h"
#include "pki/store.h"
#include "tests/support/files.h"
#include "tests/support/server.h"

#define DAY (24L * 3600)

struct fixture {
    char base[64];
    char dir[128]; /* the CA directory, not created yet */
    struct pki_ca_local_config cfg;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(mk_test_tmpdir(f->base, sizeof(f->base), "ca"), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/ca", f->base);
    f->cfg.directory = f->dir;
    f->cfg.common_name = "Test Local CA";
    *state = f;
    unsetenv("MSKPKI_TEST_CA_FAIL");
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mk_test_rmtree(f->base), 0);
    free(f);
    unsetenv("MSKPKI_TEST_CA_FAIL");
    return 0;
}

static const char *path_in(const struct fixture *f, const char *name)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->dir, name);
    return buf[i];
}

static const char *const test_dns[] = {"client1.kafka.internal"};
static const char *const test_uris[] = {"spiffe://example.org/ns/kafka/sa/producer"};

static X509_REQ *make_csr(EVP_PKEY *key)
{
    struct mk_err err;
    struct pki_csr_spec spec = {
        .common_name = "client-1",
        .organization = "Example",
        .dns_names = test_dns,
        .n_dns_names = 1,
        .uris = test_uris,
        .n_uris = 1,
    };
    X509_REQ *csr = pki_csr_new(key, &spec, &err);

    assert_non_null(csr);
    return csr;
}

static void test_create_and_issue(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca;
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = 7 * DAY};
    struct pki_issued issued = {0};
    struct pki_cert_info info;
    STACK_OF(X509) * anchors;
    struct stat st;
    BIGNUM *serial;
    BASIC_CONSTRAINTS *bc;
    int crit = -1;

    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    assert_string_equal(pki_ca_kind(ca), "local");
    assert_int_equal(pki_ca_check(ca, 7 * DAY, &err), 0);

    /* Layout: directory 0700, ca.key 0600, ca.crt a proper CA certificate. */
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(path_in(f, "ca.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    anchors = pki_ca_trust_anchors(ca, &err);
    assert_non_null(anchors);
    assert_int_equal(sk_X509_num(anchors), 1);
    assert_int_equal(pki_cert_info(sk_X509_value(anchors, 0), &info, &err), 0);
    assert_string_equal(info.subject, "CN=Test Local CA");
    assert_string_equal(info.key_usage, "keyCertSign, cRLSign");
    assert_string_equal(info.key_desc, "EC P-256");
    assert_int_equal(info.is_ca, 1);
    bc = X509_get_ext_d2i(sk_X509_value(anchors, 0), NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_true(bc->ca);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    assert_non_null(X509_get0_subject_key_id(sk_X509_value(anchors, 0)));

    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_non_null(issued.leaf);
    assert_non_null(issued.chain);
    assert_int_equal(sk_X509_num(issued.chain), 1);
    assert_int_equal(X509_cmp(sk_X509_value(issued.chain, 0), sk_X509_value(anchors, 0)), 0);
    assert_int_equal(pki_cert_matches_key(issued.leaf, key, &err), 0);
    assert_int_equal(pki_cert_verify_client(issued.leaf, NULL, anchors, 0, &err), 0);

    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_string_equal(info.subject, "CN=client-1,O=Example");
    assert_string_equal(info.issuer, "CN=Test Local CA");
    assert_string_equal(
        info.sans, "DNS:client1.kafka.internal, URI:spiffe://example.org/ns/kafka/sa/producer");
    assert_string_equal(info.ext_key_usage, "clientAuth");
    assert_int_equal(info.has_client_auth, 1);
    assert_int_equal(info.has_server_auth, 0);
    assert_string_equal(info.key_usage, "digitalSignature");
    assert_int_equal(info.is_ca, 0);
    assert_int_equal(info.not_after - info.not_before, 7 * DAY);
    assert_true(llabs((long long)(info.not_before - time(NULL))) < 60);
    serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(issued.leaf), NULL);
    assert_int_equal(BN_num_bits(serial), 128);
    assert_false(BN_is_negative(serial));
    BN_free(serial);
    assert_non_null(X509_get0_subject_key_id(issued.leaf));
    assert_non_null(X509_get0_authority_key_id(issued.leaf));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(issued.leaf),
                                           X509_get0_subject_key_id(sk_X509_value(anchors, 0))),
                     0);
    /* keyUsage critical. */
    assert_true(X509_EXTENSION_get_critical(
        X509_get_ext(issued.leaf, X509_get_ext_by_NID(issued.leaf, NID_key_usage, -1))));
    pki_issued_clear(&issued);
    pki_issued_clear(&issued); /* idempotent */

    /* Two issuances never share a serial. */
    {
        struct pki_issued a = {0};
        struct pki_issued b = {0};
        assert_int_equal(pki_ca_issue(ca, &req, &a, &err), 0);
        assert_int_equal(pki_ca_issue(ca, &req, &b, &err), 0);
        assert_int_not_equal(
            ASN1_INTEGER_cmp(X509_get0_serialNumber(a.leaf), X509_get0_serialNumber(b.leaf)), 0);
        pki_issued_clear(&a);
        pki_issued_clear(&b);
    }

    sk_X509_pop_free(anchors, X509_free);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
    pki_ca_free(NULL);
}

static void test_rsa_key_usage(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_RSA_2048, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};
    struct pki_cert_info info;

    assert_non_null(ca);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_string_equal(info.key_usage, "digitalSignature, keyEncipherment");
    assert_string_equal(info.key_desc, "RSA 2048");
    pki_issued_clear(&issued);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

/* Only subject and SAN are copied: a CSR asking for CA:TRUE and serverAuth gets neither. */
static void test_requested_extensions_ignored(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};
    struct pki_cert_info info;

    assert_non_null(ca);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sneaky", -1, -1,
                               0);
    X509_REQ_set_subject_name(csr, name);
    X509_REQ_set_pubkey(csr, key);
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE"));
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "serverAuth"));
    assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
    assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);

    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_int_equal(info.is_ca, 0);
    assert_string_equal(info.ext_key_usage, "clientAuth");
    assert_string_equal(info.sans, "");
    assert_string_equal(info.subject, "CN=sneaky");
    pki_issued_clear(&issued);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void count_cb(const char *code, unsigned long count, void *arg)
{
    char *buf = arg;
    size_t used = strlen(buf);

    snprintf(buf + used, 256 - used, "%s=%lu;", code, count);
}

static void test_bad_signature_refused(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    EVP_PKEY *other = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};
    char counts[256] = "";

    assert_non_null(ca);
    /* Swap in another public key after signing: no proof of possession any more. */
    assert_int_equal(X509_REQ_set_pubkey(csr, other), 1);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_null(issued.leaf);
    assert_null(issued.chain);

    /* Negative validity and a missing CSR. */
    assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
    assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
    req.validity_seconds = 0;
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    req.csr = NULL;
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);

    req.csr = csr;
    req.validity_seconds = DAY;
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    pki_issued_clear(&issued);

    pki_ca_foreach_request_count(ca, count_cb, counts);
    assert_string_equal(counts, "verify=1;invalid=1;ok=1;");
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    pki_ca_free(ca);
}

static void test_unsupported_csr_key(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    X509_REQ *csr = X509_REQ_new();
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};

    assert_non_null(ca);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_ASC,
                               (const unsigned char *)"weak", -1, -1, 0);
    X509_REQ_set_pubkey(csr, weak);
    assert_true(X509_REQ_sign(csr, weak, EVP_sha256()) > 0);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not a supported"));
    X509_REQ_free(csr);
    EVP_PKEY_free(weak);
    pki_ca_free(ca);
}

static void test_validity_capping(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca;
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = 30 * DAY};
    struct pki_issued issued = {0};
    struct pki_cert_info info;
    struct pki_cert_info cainfo;

    /* A CA that lives 10 days, issuing at most 5 days. */
    f->cfg.ca_validity_seconds = 10 * DAY;
    f->cfg.max_validity_seconds = 5 * DAY;
    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_int_equal(info.not_after - info.not_before, 5 * DAY);
    pki_issued_clear(&issued);
    pki_ca_free(ca);

    /* Without a cap the CA's own notAfter limits the certificate. */
    f->cfg.max_validity_seconds = 0;
    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_int_equal(pki_cert_info(sk_X509_value(issued.chain, 0), &cainfo, &err), 0);
    assert_int_equal(info.not_after, cainfo.not_after);
    assert_true(info.not_after - info.not_before <= 10 * DAY);
    pki_issued_clear(&issued);

    /* A huge validity is capped, not overflowed. */
    req.validity_seconds = LONG_MAX;
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_int_equal(info.not_after, cainfo.not_after);
    pki_issued_clear(&issued);

    /* A validity shorter than the caps is kept as asked. */
    req.validity_seconds = 3600;
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_info(issued.leaf, &info, &err), 0);
    assert_int_equal(info.not_after - info.not_before, 3600);
    pki_issued_clear(&issued);
    pki_ca_free(ca);

    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void test_reload_same_ca(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *a = pki_ca_local_new(&f->cfg, &err);
    struct pki_ca *b;
    STACK_OF(X509) * ta;
    STACK_OF(X509) * tb;
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};

    assert_non_null(a);
    ta = pki_ca_trust_anchors(a, &err);
    assert_non_null(ta);
    pki_ca_free(a);
    b = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(b);
    tb = pki_ca_trust_anchors(b, &err);
    assert_non_null(tb);
    assert_int_equal(X509_cmp(sk_X509_value(ta, 0), sk_X509_value(tb, 0)), 0);
    /* A certificate from the reloaded CA verifies against the first instance's anchors. */
    assert_int_equal(pki_ca_issue(b, &req, &issued, &err), 0);
    assert_int_equal(pki_cert_verify_client(issued.leaf, NULL, ta, 0, &err), 0);
    pki_issued_clear(&issued);
    sk_X509_pop_free(ta, X509_free);
    sk_X509_pop_free(tb, X509_free);
    pki_ca_free(b);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void test_wide_key_mode_refused(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);

    assert_non_null(ca);
    pki_ca_free(ca);
    assert_int_equal(chmod(path_in(f, "ca.key"), 0644), 0);
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, path_in(f, "ca.key")));
    assert_non_null(strstr(err.msg, "0644"));
    assert_int_equal(chmod(path_in(f, "ca.key"), 0640), 0);
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_int_equal(chmod(path_in(f, "ca.key"), 0400), 0);
    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    pki_ca_free(ca);
}

static void test_unsafe_directory_refused(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca_local_config cfg = f->cfg;
    char link[160];

    assert_int_equal(mkdir(f->dir, 0777), 0);
    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, f->dir));

    /* A symlinked directory is refused, not followed. */
    assert_int_equal(chmod(f->dir, 0700), 0);
    snprintf(link, sizeof(link), "%s/link", f->base);
    assert_int_equal(symlink(f->dir, link), 0);
    cfg.directory = link;
    assert_null(pki_ca_local_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_PERM);

    cfg.directory = f->dir;
    cfg.ca_validity_seconds = LONG_MAX;
    assert_null(pki_ca_local_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    cfg.ca_validity_seconds = -1;
    assert_null(pki_ca_local_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    cfg.ca_validity_seconds = 0;

    cfg.directory = "relative/ca";
    assert_null(pki_ca_local_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
    cfg.directory = NULL;
    assert_null(pki_ca_local_new(&cfg, &err));
    assert_int_equal(err.code, MK_ERR_CONFIG);
}

/* Copies file src to dst (small files). */
static void copy_file(const char *src, const char *dst)
{
    char buf[8192];
    FILE *in = fopen(src, "rb");
    FILE *out = fopen(dst, "wb");
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    n = fread(buf, 1, sizeof(buf), in);
    assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_key_cert_mismatch(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca_local_config other = f->cfg;
    char other_dir[160];
    char other_crt[200];
    struct pki_ca *ca;

    snprintf(other_dir, sizeof(other_dir), "%s/other", f->base);
    other.directory = other_dir;
    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    pki_ca_free(ca);
    ca = pki_ca_local_new(&other, &err);
    assert_non_null(ca);
    pki_ca_free(ca);
    snprintf(other_crt, sizeof(other_crt), "%s/ca.crt", other_dir);
    copy_file(other_crt, path_in(f, "ca.crt"));
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_non_null(strstr(err.msg, path_in(f, "ca.crt")));

    /* ca.crt without ca.key: refused, the certificate is not silently replaced. */
    assert_int_equal(unlink(path_in(f, "ca.key")), 0);
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_non_null(strstr(err.msg, "ca.key"));

    /* A garbage ca.crt is refused and named. */
    {
        FILE *fp = fopen(path_in(f, "ca.crt"), "w");
        fputs("junk\n", fp);
        fclose(fp);
    }
    snprintf(other_crt, sizeof(other_crt), "%s/ca.key", other_dir);
    copy_file(other_crt, path_in(f, "ca.key"));
    assert_int_equal(chmod(path_in(f, "ca.key"), 0600), 0);
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_non_null(strstr(err.msg, path_in(f, "ca.crt")));

    /* ca.key without ca.crt (crash between the two writes): a new certificate for that key. */
    assert_int_equal(unlink(path_in(f, "ca.crt")), 0);
    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    pki_ca_free(ca);
}

/* Runs a shell command and returns its stdout.  Caller frees with free(). */
static char *run(const char *cmd)
{
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    char *out = mk_test_run_capture(argv);

    /* NULL also when the command exits non-zero. */
    assert_non_null(out);
    return out;
}

/* Runs a shell command, discarding its output; returns its exit status. */
static int run_status(const char *cmd)
{
    char full[1024];
    int st;

    snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
    st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_pem(X509 *cert, const char *path)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, cert), 1);
    fclose(fp);
}

static void test_revoke_crl(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued a = {0};
    struct pki_issued b = {0};
    struct pki_cert_info ia;
    struct pki_cert_info ib;
    char cmd[512];
    char *out;
    json_t *root;
    json_error_t jerr;
    struct stat st;

    assert_non_null(ca);
    /* A new CA publishes an empty CRL right away, so brokers can load it from day one. */
    snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -noout -text", path_in(f, "crl.pem"));
    out = run(cmd);
    assert_non_null(strstr(out, "No Revoked Certificates"));
    assert_non_null(strstr(out, "Next Update"));
    free(out);

    assert_int_equal(pki_ca_issue(ca, &req, &a, &err), 0);
    assert_int_equal(pki_ca_issue(ca, &req, &b, &err), 0);
    assert_int_equal(pki_cert_info(a.leaf, &ia, &err), 0);
    assert_int_equal(pki_cert_info(b.leaf, &ib, &err), 0);

    write_pem(a.leaf, path_in(f, "a.pem"));
    write_pem(b.leaf, path_in(f, "b.pem"));
    /* Interoperability: OpenSSL's own verifier accepts the chain for the client purpose. */
    snprintf(cmd, sizeof(cmd),
             "openssl verify -purpose sslclient -crl_check -CRLfile '%s' -CAfile '%s' '%s' 2>&1",
             path_in(f, "crl.pem"), path_in(f, "ca.crt"), path_in(f, "a.pem"));
    out = run(cmd);
    assert_non_null(strstr(out, ": OK"));
    free(out);

    assert_int_equal(pki_ca_revoke(ca, a.leaf, "SUPERSEDED", &err), 0);
    /* ...and after the revocation it refuses a (revoked) but still accepts b. */
    assert_int_not_equal(run_status(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "openssl verify -purpose sslclient -crl_check -CRLfile '%s' -CAfile '%s' '%s' 2>&1",
             path_in(f, "crl.pem"), path_in(f, "ca.crt"), path_in(f, "b.pem"));
    assert_int_equal(run_status(cmd), 0);
    assert_int_equal(stat(path_in(f, "crl.pem"), &st), 0);
    snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -noout -text", path_in(f, "crl.pem"));
    out = run(cmd);
    assert_non_null(strstr(out, ia.serial_hex));
    assert_null(strstr(out, ib.serial_hex));
    assert_non_null(strstr(out, "Superseded"));
    assert_non_null(strstr(out, "CN = Test Local CA"));
    assert_non_null(strstr(out, "X509v3 CRL Number"));
    free(out);
    /* The CRL signature verifies against ca.crt. */
    snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -CAfile '%s' -noout 2>&1",
             path_in(f, "crl.pem"), path_in(f, "ca.crt"));
    out = run(cmd);
    assert_non_null(strstr(out, "verify OK"));
    free(out);

    /* Second revocation: both listed, reasons kept, CRL number increases. */
    assert_int_equal(pki_ca_revoke(ca, b.leaf, "KEY_COMPROMISE", &err), 0);
    assert_int_equal(pki_ca_revoke(ca, a.leaf, "KEY_COMPROMISE", &err), 0); /* again: kept */
    snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -noout -text", path_in(f, "crl.pem"));
    out = run(cmd);
    assert_non_null(strstr(out, ia.serial_hex));
    assert_non_null(strstr(out, ib.serial_hex));
    assert_non_null(strstr(out, "Key Compromise"));
    assert_non_null(strstr(out, "Superseded"));
    free(out);
    root = json_load_file(path_in(f, "revoked.json"), 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "revoked")), 2);
    /* 1 for the empty CRL published at creation, then one per revocation call. */
    assert_int_equal(json_integer_value(json_object_get(root, "crl_number")), 4);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "revoked"), 0), "reason")),
                        "SUPERSEDED");
    json_decref(root);

    /* A lost or broken crl.pem is re-signed from revoked.json by the next check(). */
    assert_int_equal(unlink(path_in(f, "crl.pem")), 0);
    assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
    snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -noout -text", path_in(f, "crl.pem"));
    out = run(cmd);
    assert_non_null(strstr(out, ia.serial_hex));
    assert_non_null(strstr(out, ib.serial_hex));
    free(out);
    {
        FILE *fp = fopen(path_in(f, "crl.pem"), "w");
        fputs("garbage\n", fp);
        fclose(fp);
    }
    assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
    out = run(cmd);
    assert_non_null(strstr(out, ia.serial_hex));
    free(out);
    /* A fresh, valid CRL is left alone (no needless re-signing). */
    {
        struct stat before;
        struct stat after;
        assert_int_equal(stat(path_in(f, "crl.pem"), &before), 0);
        assert_int_equal(pki_ca_check(ca, DAY, &err), 0);
        assert_int_equal(stat(path_in(f, "crl.pem"), &after), 0);
        assert_int_equal(before.st_ino, after.st_ino);
    }

    /* Negative: unknown reason, a certificate from another CA, no certificate. */
    assert_int_equal(pki_ca_revoke(ca, a.leaf, "BECAUSE", &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(pki_ca_revoke(ca, NULL, "SUPERSEDED", &err), -1);
    {
        struct pki_ca_local_config other = f->cfg;
        char other_dir[160];
        struct pki_ca *ca2;
        struct pki_issued c = {0};
        snprintf(other_dir, sizeof(other_dir), "%s/other", f->base);
        other.directory = other_dir;
        ca2 = pki_ca_local_new(&other, &err);
        assert_non_null(ca2);
        assert_int_equal(pki_ca_issue(ca2, &req, &c, &err), 0);
        assert_int_equal(pki_ca_revoke(ca, c.leaf, "SUPERSEDED", &err), -1);
        assert_int_equal(err.code, MK_ERR_VERIFY);
        pki_issued_clear(&c);
        pki_ca_free(ca2);
    }

    /* A corrupt revoked.json is refused with its name, and crl.pem is left as it was. */
    {
        FILE *fp = fopen(path_in(f, "revoked.json"), "w");
        fputs("{not json", fp);
        fclose(fp);
        assert_int_equal(pki_ca_revoke(ca, b.leaf, "SUPERSEDED", &err), -1);
        assert_int_equal(err.code, MK_ERR_INVALID);
        assert_non_null(strstr(err.msg, "revoked.json"));
    }

    pki_issued_clear(&a);
    pki_issued_clear(&b);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_injected_failure(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    struct pki_issue_request req = {.csr = csr, .validity_seconds = DAY};
    struct pki_issued issued = {0};
    char flag[200];
    char counts[256] = "";
    int fd;

    assert_non_null(ca);
    snprintf(flag, sizeof(flag), "%s/ca-down", f->base);
    setenv("MSKPKI_TEST_CA_FAIL", flag, 1);
    /* Variable set but file absent: issuing works. */
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    pki_issued_clear(&issued);
    fd = open(flag, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), -1);
    assert_int_equal(err.code, MK_ERR_NET);
    assert_string_equal(err.msg, "local CA: injected failure");
    assert_null(issued.leaf);
    assert_int_equal(unlink(flag), 0);
    assert_int_equal(pki_ca_issue(ca, &req, &issued, &err), 0);
    pki_issued_clear(&issued);
    pki_ca_foreach_request_count(ca, count_cb, counts);
    assert_string_equal(counts, "ok=2;network=1;");
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

struct thread_arg {
    struct pki_ca *ca;
    X509_REQ *csr;
    int ok;
};

static void *issue_thread(void *p)
{
    struct thread_arg *arg = p;
    struct pki_issue_request req = {.csr = arg->csr, .validity_seconds = DAY};
    struct mk_err err;

    for (int i = 0; i < 10; i++) {
        struct pki_issued issued = {0};
        if (pki_ca_issue(arg->ca, &req, &issued, &err) == 0) {
            arg->ok++;
        }
        pki_issued_clear(&issued);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca = pki_ca_local_new(&f->cfg, &err);
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256, &err);
    X509_REQ *csr = make_csr(key);
    pthread_t th[4];
    struct thread_arg args[4];
    char counts[256] = "";

    assert_non_null(ca);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.ca = ca, .csr = csr, .ok = 0};
        assert_int_equal(pthread_create(&th[i], NULL, issue_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].ok, 10);
    }
    pki_ca_foreach_request_count(ca, count_cb, counts);
    assert_string_equal(counts, "ok=40;");
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

/* The SHA-256 fingerprint of the CA's trust anchor, into out[96]. */
static void anchor_fingerprint(struct pki_ca *ca, char out[96])
{
    struct mk_err err;
    struct pki_cert_info info;
    STACK_OF(X509) *anchors = pki_ca_trust_anchors(ca, &err);

    assert_non_null(anchors);
    assert_int_equal(pki_cert_info(sk_X509_value(anchors, 0), &info, &err), 0);
    memcpy(out, info.fingerprint_sha256, 96);
    sk_X509_pop_free(anchors, X509_free);
}

/* Several processes start on an empty directory at once: every one must load the same CA, the
 * one on disk (the flock on <dir>/.lock serialises creation).  Rounds make a race likely to
 * show if the lock were missing. */
#define RACE_ROUNDS 6
#define RACE_PROCS 8
static void test_concurrent_creation(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    pid_t pids[RACE_PROCS];
    int fds[RACE_PROCS][2];
    char want[96];
    char got[96];
    char dir[160];
    struct pki_ca_local_config cfg = f->cfg;
    struct pki_ca *ca;

    cfg.directory = dir;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        snprintf(dir, sizeof(dir), "%s/race-%d", f->base, round);
        for (int i = 0; i < RACE_PROCS; i++) {
            assert_int_equal(pipe(fds[i]), 0);
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                struct pki_ca *c = pki_ca_local_new(&cfg, &err);
                char fp[96] = "";
                if (c != NULL) {
                    anchor_fingerprint(c, fp);
                }
                int ok = write(fds[i][1], fp, sizeof(fp)) == (ssize_t)sizeof(fp) && c != NULL;
                pki_ca_free(c); /* memcheck counts what a child leaves behind */
                _exit(ok ? 0 : 1);
            }
            close(fds[i][1]);
        }
        ca = NULL;
        for (int i = 0; i < RACE_PROCS; i++) {
            int status = 0;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            assert_int_equal(read(fds[i][0], got, sizeof(got)), (ssize_t)sizeof(got));
            close(fds[i][0]);
            if (ca == NULL) {
                ca = pki_ca_local_new(&cfg, &err);
                assert_non_null(ca);
                anchor_fingerprint(ca, want);
            }
            assert_string_equal(got, want);
        }
        pki_ca_free(ca);
    }
}

/* A failed write leaves no half-created CA; a crash between ca.key and ca.crt is recovered. */
static void test_write_failures(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    struct pki_ca *ca;
    struct stat st;
    EVP_PKEY *key;

    pki_store_test_fail_write(1); /* ca.key */
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_IO);
    assert_int_equal(lstat(path_in(f, "ca.key"), &st), -1);
    assert_int_equal(lstat(path_in(f, "ca.crt"), &st), -1);

    pki_store_test_fail_write(2); /* ca.crt, after ca.key was written */
    assert_null(pki_ca_local_new(&f->cfg, &err));
    assert_int_equal(err.code, MK_ERR_IO);
    assert_int_equal(lstat(path_in(f, "ca.key"), &st), 0);
    assert_int_equal(lstat(path_in(f, "ca.crt"), &st), -1);
    pki_store_test_fail_write(0);

    ca = pki_ca_local_new(&f->cfg, &err);
    assert_non_null(ca);
    key = pki_key_load_file(path_in(f, "ca.key"), NULL, &err);
    assert_non_null(key);
    {
        X509 *crt = pki_cert_load_file(path_in(f, "ca.crt"), &err);
        assert_non_null(crt);
        assert_int_equal(pki_cert_matches_key(crt, key, &err), 0);
        X509_free(crt);
    }
    EVP_PKEY_free(key);
    pki_ca_free(ca);
}

static void test_generic_layer(void **state)
{
    struct mk_err err;
    struct pki_issued issued = {0};
    struct pki_issue_request req = {0};

    (void)state;
    assert_string_equal(pki_ca_kind(NULL), "none");
    assert_int_equal(pki_ca_check(NULL, 1, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    assert_int_equal(pki_ca_issue(NULL, &req, &issued, &err), -1);
    assert_null(pki_ca_trust_anchors(NULL, &err));
    assert_int_equal(pki_ca_revoke(NULL, NULL, NULL, &err), -1);
    pki_ca_foreach_request_count(NULL, count_cb, NULL);
    pki_issued_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_issue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_key_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requested_extensions_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_csr_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validity_capping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_same_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_key_mode_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_directory_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cert_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_crl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injected_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
        cmocka_unit_test(test_generic_layer),
    };
    mk_log_setup(MK_LOG_WARN, MK_LOG_STDERR, "test_ca_local");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
