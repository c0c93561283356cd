/*
 * test_issue.c: the key side of the issuance transaction (issue/issue.h) that the agent's key
 * process and `mskpkictl cert issue` share: where and how a pending issuance is kept
 * (issue_keys_prepare, issue_pending_*), and the state path helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "issue/issue.h"
#include "pki/csr.h"
#include "pki/log.h"
#include "pki/secret.h"

struct fixture {
    char dir[512];
    struct conf *cfg;
    const struct conf_certificate *cc;
    char kpath[1024];
    char cpath[1024];
};

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = calloc(1, 1 << 16);
    size_t n;

    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A config with one block "client"; passphrase: with key_passphrase_file. */
static int setup_with(void **state, int passphrase)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char tmpl[] = "issue.XXXXXX";
    char path[700];
    char pass[700];
    struct mk_err err;
    FILE *cf;

    assert_non_null(f);
    /* Under the build tree, not /tmp: the store refuses directories others can write to. */
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    snprintf(path, sizeof(path), "%s/out", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(pass, sizeof(pass), "%s/key.pass", f->dir);
    write_file(pass, "pending secret\n", 0600);
    snprintf(path, sizeof(path), "%s/mskpki.conf", f->dir);
    cf = fopen(path, "we");
    assert_non_null(cf);
    fprintf(cf,
            "ca = { backend = \"local\"; local = { directory = \"%s/ca\"; }; };\n"
            "state_dir = \"%s/state\";\n"
            "certificates = ({ name = \"client\";\n"
            "  subject = { common_name = \"client.example.com\"; };\n"
            "  output = { directory = \"%s/out/client\"; key = \"client.key\";\n"
            "             cert = \"client.crt\"; %s%s%s };\n"
            "});\n",
            f->dir, f->dir, f->dir, passphrase ? "key_passphrase_file = \"" : "",
            passphrase ? pass : "", passphrase ? "\";" : "");
    fclose(cf);
    f->cfg = conf_load(path, &err);
    if (f->cfg == NULL) {
        fail_msg("conf_load: %s", err.msg);
    }
    f->cc = conf_find_certificate(f->cfg, "client");
    assert_non_null(f->cc);
    assert_int_equal(issue_pending_paths(f->cc, f->kpath, f->cpath, sizeof(f->kpath)), 0);
    *state = f;
    return 0;
}

static int setup_plain(void **state)
{
    return setup_with(state, 0);
}

static int setup_passphrase(void **state)
{
    return setup_with(state, 1);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[600];

    conf_free(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_pending_place(void **state)
{
    struct fixture *f = *state;
    char want[1100];

    /* Beside the outputs (the key process's), named after the key file. */
    snprintf(want, sizeof(want), "%s/out/client/.pending-client.key", f->dir);
    assert_string_equal(f->kpath, want);
    snprintf(want, sizeof(want), "%s/out/client/.pending-client.key.csr", f->dir);
    assert_string_equal(f->cpath, want);
}

static void test_prepare_and_resume(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    EVP_PKEY *k1 = NULL;
    EVP_PKEY *k2 = NULL;
    X509_REQ *r1 = NULL;
    X509_REQ *r2 = NULL;
    int resumed = -1;
    struct stat st;
    char *pem;

    assert_int_equal(issue_keys_prepare(f->cc, 1, &k1, &r1, &resumed, &err), 0);
    assert_int_equal(resumed, 0);
    assert_int_equal(stat(f->kpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    pem = slurp(f->kpath);
    /* No passphrase configured: plain PKCS#8. */
    assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
    free(pem);
    assert_int_equal(access(f->cpath, F_OK), 0);

    /* The next attempt resumes the same key and the same CSR (the same idempotency token). */
    assert_int_equal(issue_keys_prepare(f->cc, 1, &k2, &r2, &resumed, &err), 0);
    assert_int_equal(resumed, 1);
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
    {
        char fp1[65];
        char fp2[65];
        assert_int_equal(pki_csr_fingerprint(r1, fp1, &err), 0);
        assert_int_equal(pki_csr_fingerprint(r2, fp2, &err), 0);
        assert_string_equal(fp1, fp2);
    }
    X509_REQ_free(r2);
    EVP_PKEY_free(k2);

    /* A CSR that is not the key's is replaced by a new one from the same key. */
    write_file(f->cpath, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                         "-----END CERTIFICATE REQUEST-----\n", 0644);
    assert_int_equal(issue_keys_prepare(f->cc, 1, &k2, &r2, &resumed, &err), 0);
    assert_int_equal(resumed, 1);
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
    X509_REQ_free(r2);
    EVP_PKEY_free(k2);

    /* Dropped: the next one is a fresh key. */
    issue_pending_drop(f->cc);
    assert_int_equal(access(f->kpath, F_OK), -1);
    assert_int_equal(access(f->cpath, F_OK), -1);
    assert_int_equal(issue_keys_prepare(f->cc, 1, &k2, &r2, &resumed, &err), 0);
    assert_int_equal(resumed, 0);
    assert_int_not_equal(EVP_PKEY_eq(k1, k2), 1);
    X509_REQ_free(r2);
    EVP_PKEY_free(k2);
    issue_pending_drop(f->cc);

    /* Without pending (the local CA), nothing is written and nothing resumed. */
    assert_int_equal(issue_keys_prepare(f->cc, 0, &k2, &r2, &resumed, &err), 0);
    assert_int_equal(resumed, 0);
    assert_int_equal(access(f->kpath, F_OK), -1);
    X509_REQ_free(r2);
    EVP_PKEY_free(k2);
    X509_REQ_free(r1);
    EVP_PKEY_free(k1);
}

static void test_pending_encrypted(void **state)
{
    struct fixture *f = *state;
    struct mk_err err;
    EVP_PKEY *k1 = NULL;
    EVP_PKEY *k2 = NULL;
    X509_REQ *r1 = NULL;
    X509_REQ *r2 = NULL;
    int resumed = -1;
    char *pem;

    assert_int_equal(issue_keys_prepare(f->cc, 1, &k1, &r1, &resumed, &err), 0);
    pem = slurp(f->kpath);
    /* key_passphrase_file is set: the pending key is encrypted like the key it becomes. */
    assert_non_null(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
    assert_null(strstr(pem, "BEGIN PRIVATE KEY"));
    free(pem);
    /* Read without the passphrase: refused (a new key would be made). */
    assert_int_equal(issue_pending_read(f->cc, NULL, &k2, &r2), 0);
    /* With it (what prepare does): resumed. */
    assert_int_equal(issue_keys_prepare(f->cc, 1, &k2, &r2, &resumed, &err), 0);
    assert_int_equal(resumed, 1);
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
    X509_REQ_free(r2);
    EVP_PKEY_free(k2);
    X509_REQ_free(r1);
    EVP_PKEY_free(k1);
}

static void test_state_path_and_record(void **state)
{
    struct fixture *f = *state;
    char buf[64];
    char small[8];
    char rec[1100];

    assert_int_equal(issue_state_path(buf, sizeof(buf), "/var/lib/mskpki", "a", ".pending.json"),
                     0);
    assert_string_equal(buf, "/var/lib/mskpki/a.pending.json");
    assert_int_equal(issue_state_path(small, sizeof(small), "/var/lib/mskpki", "a", ".json"), -1);

    /* The CA's record is the only pending file in state_dir; the old key and CSR files there
     * are never read, only removed with it. */
    snprintf(rec, sizeof(rec), "%s/state", f->dir);
    assert_int_equal(mkdir(rec, 0750), 0);
    assert_int_equal(issue_has_pending(rec, "client"), 0);
    snprintf(rec, sizeof(rec), "%s/state/client.pending.key", f->dir);
    write_file(rec, "old", 0600);
    assert_int_equal(issue_has_pending(f->cfg->state_dir, "client"), 0);
    snprintf(rec, sizeof(rec), "%s/state/client.pending.json", f->dir);
    write_file(rec, "{}", 0600);
    assert_int_equal(issue_has_pending(f->cfg->state_dir, "client"), 1);
    issue_clear_pending(f->cfg->state_dir, "client");
    assert_int_equal(issue_has_pending(f->cfg->state_dir, "client"), 0);
    snprintf(rec, sizeof(rec), "%s/state/client.pending.key", f->dir);
    assert_int_equal(access(rec, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pending_place, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_and_resume, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_pending_encrypted, setup_passphrase, teardown),
        cmocka_unit_test_setup_teardown(test_state_path_and_record, setup_plain, teardown),
    };
    struct mk_err err;

    mk_log_setup(MK_LOG_ERROR, MK_LOG_STDERR, "test_issue");
    if (pki_sodium_init(&err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
