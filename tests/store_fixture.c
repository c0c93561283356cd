/* store_fixture.c: see store_fixture.h. */
#include "store_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/secret.h"
#include "tests/support/files.h"

void fx_setup(struct store_fx *fx)
{
    struct mk_err err;
    char cadir[128];
    struct pki_ca_local_config cfg = {.common_name = "mskpki store test CA"};

    memset(fx, 0, sizeof(*fx));
    assert_int_equal(mk_test_tmpdir(fx->tmp, sizeof(fx->tmp), "store"), 0);
    assert_int_equal(pki_sodium_init(&err), 0);
    snprintf(cadir, sizeof(cadir), "%s/ca", fx->tmp);
    assert_int_equal(mkdir(cadir, 0700), 0);
    cfg.directory = cadir;
    fx->ca = pki_ca_local_new(&cfg, &err);
    if (fx->ca == NULL) {
        fail_msg("pki_ca_local_new: %s", err.msg);
    }
}

void fx_teardown(struct store_fx *fx)
{
    pki_ca_free(fx->ca);
    fx->ca = NULL;
    if (fx->tmp[0] != '\0') {
        /* Test directories may have been made unsafe on purpose: make them removable. */
        (void)mk_test_rmtree(fx->tmp);
    }
}

void fx_issue(struct store_fx *fx, const char *cn, struct fx_pair *out)
{
    struct mk_err err;
    struct pki_csr_spec spec = {.common_name = cn};
    struct pki_issued issued = {0};
    struct pki_issue_request req = {.validity_seconds = 3600};

    memset(out, 0, sizeof(*out));
    out->key = pki_key_generate(PKI_KEY_EC_P256, &err);
    if (out->key == NULL) {
        fail_msg("pki_key_generate: %s", err.msg);
    }
    req.csr = pki_csr_new(out->key, &spec, &err);
    if (req.csr == NULL) {
        fail_msg("pki_csr_new: %s", err.msg);
    }
    if (pki_ca_issue(fx->ca, &req, &issued, &err) != 0) {
        fail_msg("pki_ca_issue: %s", err.msg);
    }
    X509_REQ_free(req.csr);
    out->leaf = issued.leaf;
    out->chain = issued.chain;
}

void fx_pair_clear(struct fx_pair *p)
{
    EVP_PKEY_free(p->key);
    X509_free(p->leaf);
    sk_X509_pop_free(p->chain, X509_free);
    memset(p, 0, sizeof(*p));
}

void fx_write(const char *path, const char *data, size_t len)
{
    assert_int_equal(mk_test_write_file(path, data, len, 0600), 0);
}

int fx_run(const char *cmd, char **out)
{
    char tmpl[] = "/tmp/mskpki-run-XXXXXX";
    char *full = NULL;
    int fd = mkstemp(tmpl);
    int status = 0;

    assert_true(fd >= 0);
    close(fd);
    assert_true(asprintf(&full, "%s >%s 2>&1 </dev/null", cmd, tmpl) > 0);
    status = system(full);
    free(full);
    if (out != NULL) {
        *out = mk_test_read_file(tmpl, NULL);
        assert_non_null(*out);
    }
    unlink(tmpl);
    if (status == -1 || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}

static const char *count_needle;
static int count_hits;

static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (strstr(path + ftw->base, count_needle) != NULL) {
        count_hits++;
    }
    return 0;
}

int fx_count_named(const char *dir, const char *s)
{
    count_needle = s;
    count_hits = 0;
    assert_int_equal(nftw(dir, count_one, 16, FTW_PHYS), 0);
    return count_hits;
}
