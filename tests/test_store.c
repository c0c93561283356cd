/*
 * test_store.c: the key store (pki/store.c): generation layout and permissions, stable links,
 * rotation, interrupted writes, planted symlinks, recovery, read-back verification, and the
 * PKCS#12 / encrypted key outputs checked with the real openssl and keytool CLIs.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "pki/format.h"
#include "pki/log.h"
#include "pki/secret.h"
#include "pki/store.h"
#include "store_fixture.h"

/* All five outputs; the default spec leaves out the PKCS#12 (the slowest to render). */
#define N_FILES 5
#define N_PEM 4
static const char *const names[N_FILES] = {"client.key", "client.crt", "ca.crt", "fullchain.pem",
                                           "client.p12"};

/* Test-visible static of pki/store.c (MK_TESTABLE). */
int store_parse_gen(const char *name, unsigned long *out);

struct st {
    struct store_fx fx;
    struct fx_pair a, b, c;
    char out[128];
    struct pki_secret *p12pw;
    struct pki_store_spec spec;
};

static int setup(void **state)
{
    struct mk_err err;
    struct st *s = calloc(1, sizeof(*s));

    mk_log_setup(MK_LOG_WARN, MK_LOG_STDERR, "test_store");
    assert_non_null(s);
    fx_setup(&s->fx);
    fx_issue(&s->fx, "client-a", &s->a);
    fx_issue(&s->fx, "client-b", &s->b);
    fx_issue(&s->fx, "client-c", &s->c);
    snprintf(s->out, sizeof(s->out), "%s/out", s->fx.tmp);
    s->p12pw = pki_secret_from("p12-secret", 10, &err);
    assert_non_null(s->p12pw);
    s->spec = (struct pki_store_spec){
        .directory = s->out,
        .key_name = names[0],
        .cert_name = names[1],
        .chain_name = names[2],
        .fullchain_name = names[3],
        .pkcs12_name = NULL,
        .pkcs12_alias = "kafka-client",
        .owner = (uid_t)-1,
        .group = (gid_t)-1,
        .pkcs12_password = s->p12pw,
    };
    pki_store_test_fail_write(0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct st *s = *state;
    pki_store_test_fail_write(0);
    fx_pair_clear(&s->a);
    fx_pair_clear(&s->b);
    fx_pair_clear(&s->c);
    pki_secret_free(s->p12pw);
    fx_teardown(&s->fx);
    free(s);
    return 0;
}

/* The test's spec with all five outputs, the PKCS#12 keystore included. */
static struct pki_store_spec with_p12(const struct st *s)
{
    struct pki_store_spec spec = s->spec;
    spec.pkcs12_name = names[4];
    return spec;
}

/* A group to share keys with: "daemon" as root; otherwise our own group (fchown to a group we
 * are not in would fail with EPERM for reasons that have nothing to do with the store). */
static gid_t share_gid(void)
{
    struct group *gr = getgrnam("daemon");
    if (geteuid() != 0 || gr == NULL) {
        return getegid();
    }
    return gr->gr_gid;
}

/* Formats a path into a rotating static buffer (a few may be alive at once). */
static const char *P(const char *fmt, ...) MK_PRINTF(1, 2);
static const char *P(const char *fmt, ...)
{
    static char bufs[8][512];
    static int i;
    va_list ap;
    char *b = bufs[i++ % 8];

    va_start(ap, fmt);
    vsnprintf(b, sizeof(bufs[0]), fmt, ap);
    va_end(ap);
    return b;
}

static void write_ok(const struct pki_store_spec *spec, const struct fx_pair *p)
{
    struct mk_err err;
    mk_err_clear(&err);
    if (pki_store_write(spec, p->key, p->leaf, p->chain, &err) != 0) {
        fail_msg("pki_store_write: %s", err.msg);
    }
}

/* The generation number a link (current/previous) names, or 0 when it is absent. */
static unsigned long link_gen(const char *dir, const char *name)
{
    char target[256];
    char path[512];
    ssize_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        assert_int_equal(errno, ENOENT);
        return 0;
    }
    target[n] = '\0';
    assert_memory_equal(target, ".gen-", 5);
    return strtoul(target + 5, NULL, 10);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void assert_file_mode(const char *path, mode_t mode)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
}

/* Number of .gen-N entries in dir. */
static int gen_count(const char *dir)
{
    char path[512];
    int n = 0;
    for (int i = 1; i < 64; i++) {
        snprintf(path, sizeof(path), "%s/.gen-%d", dir, i);
        n += exists(path);
    }
    return n;
}

static void assert_no_leftovers(const char *dir)
{
    assert_int_equal(fx_count_named(dir, ".mskpki-tmp"), 0);
}

static void assert_read_is(const struct pki_store_spec *spec, const struct fx_pair *p,
                           unsigned long number)
{
    struct mk_err err;
    struct pki_generation gen = {0};
    if (pki_store_read(spec, &gen, &err) != 0) {
        fail_msg("pki_store_read: %s", err.msg);
    }
    assert_int_equal(gen.number, number);
    assert_int_equal(EVP_PKEY_eq(gen.key, p->key), 1);
    assert_int_equal(X509_cmp(gen.leaf, p->leaf), 0);
    assert_non_null(gen.chain);
    assert_int_equal(sk_X509_num(gen.chain), sk_X509_num(p->chain));
    pki_generation_clear(&gen);
}

static void test_layout_and_modes(void **state)
{
    struct st *s = *state;
    char target[256];
    ssize_t n = 0;
    struct stat st;
    char *cert = NULL;
    char *full = NULL;
    struct pki_store_spec spec = with_p12(s);

    write_ok(&spec, &s->a);
    /* The directory was created 0750 (its parent is the test's own 0700 temp dir). */
    assert_int_equal(lstat(s->out, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(link_gen(s->out, "current"), 1);
    assert_int_equal(link_gen(s->out, "previous"), 0);
    assert_file_mode(P("%s/.gen-1/client.key", s->out), 0600);
    assert_file_mode(P("%s/.gen-1/client.p12", s->out), 0600);
    assert_file_mode(P("%s/.gen-1/client.crt", s->out), 0644);
    assert_file_mode(P("%s/.gen-1/ca.crt", s->out), 0644);
    assert_file_mode(P("%s/.gen-1/fullchain.pem", s->out), 0644);
    for (int i = 0; i < N_FILES; i++) {
        assert_int_equal(lstat(P("%s/%s", s->out, names[i]), &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        n = readlink(P("%s/%s", s->out, names[i]), target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, P("current/%s", names[i]));
    }
    /* The full chain is the leaf followed by the chain. */
    cert = mk_test_read_file(P("%s/client.crt", s->out), NULL);
    full = mk_test_read_file(P("%s/fullchain.pem", s->out), NULL);
    assert_non_null(cert);
    assert_non_null(full);
    assert_memory_equal(full, cert, strlen(cert));
    assert_true(strlen(full) > strlen(cert));
    free(cert);
    free(full);
    assert_read_is(&spec, &s->a, 1);
    assert_no_leftovers(s->out);
}

static void test_group_and_owner(void **state)
{
    struct st *s = *state;
    struct pki_store_spec spec = with_p12(s);
    struct passwd *pw = getpwnam("daemon");
    gid_t gid = share_gid();
    struct stat st;

    spec.key_mode = 0640;
    spec.group = gid;
    if (geteuid() == 0 && pw != NULL) {
        spec.owner = pw->pw_uid;
    }
    write_ok(&spec, &s->a);
    assert_file_mode(P("%s/.gen-1/client.key", s->out), 0640);
    assert_file_mode(P("%s/.gen-1/client.p12", s->out), 0640);
    assert_file_mode(P("%s/.gen-1/client.crt", s->out), 0644);
    /* The group must be able to enter the directory the store made, or 0640 gives it nothing.
     * (As root the group is "daemon", not ours, so this fails if the store leaves its own.) */
    assert_int_equal(stat(s->out, &st), 0);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(stat(P("%s/client.key", s->out), &st), 0);
    assert_int_equal(st.st_gid, gid);
    if (spec.owner != (uid_t)-1) {
        assert_int_equal(st.st_uid, spec.owner);
    }
    assert_int_equal(stat(P("%s/client.crt", s->out), &st), 0);
    assert_int_equal(st.st_gid, gid);
    assert_read_is(&spec, &s->a, 1);
}

/* A 0700 directory of ours, made before the group was configured, is opened to the group. */
static void test_group_on_existing_dir(void **state)
{
    struct st *s = *state;
    struct pki_store_spec spec = s->spec;
    gid_t gid = share_gid();
    struct stat st;

    assert_int_equal(mkdir(s->out, 0700), 0);
    assert_int_equal(chmod(s->out, 0700), 0);
    spec.key_mode = 0640;
    spec.group = gid;
    write_ok(&spec, &s->a);
    assert_int_equal(stat(s->out, &st), 0);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_mode & 07777, 0750);
    /* Without a group, nothing about the directory changes. */
    assert_int_equal(chmod(s->out, 0700), 0);
    write_ok(&s->spec, &s->b);
    assert_int_equal(stat(s->out, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void expect_write_fails(const struct pki_store_spec *spec, const struct fx_pair *p,
                               X509 *leaf, enum mk_code code)
{
    struct mk_err err;
    mk_err_clear(&err);
    assert_int_equal(pki_store_write(spec, p->key, leaf != NULL ? leaf : p->leaf, p->chain, &err),
                     -1);
    if (err.code != code) {
        fail_msg("expected %s, got %s: %s", mk_code_str(code), mk_code_str(err.code), err.msg);
    }
    assert_true(err.msg[0] != '\0');
}

static void test_spec_refusals(void **state)
{
    struct st *s = *state;
    struct pki_store_spec spec;
    struct fx_pair nochain = {.key = s->a.key, .leaf = s->a.leaf, .chain = NULL};

    spec = s->spec;
    spec.key_mode = 0640; /* without a group */
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.key_mode = 0644;
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.cert_mode = 0666;
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = with_p12(s);
    spec.pkcs12_password = NULL;
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.directory = "relative/out";
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.cert_name = "sub/client.crt";
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.chain_name = "client.crt";
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.fullchain_name = "current";
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.key_name = ".hidden.key";
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    spec = s->spec;
    spec.key_name = NULL;
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_CONFIG);
    /* A key with somebody else's certificate is never written. */
    expect_write_fails(&s->spec, &s->a, s->b.leaf, MK_ERR_VERIFY);
    /* A chain file with nothing to put in it. */
    expect_write_fails(&s->spec, &nochain, NULL, MK_ERR_INVALID);
    assert_int_equal(gen_count(s->out), 0);
    assert_false(exists(P("%s/current", s->out)));
    assert_no_leftovers(s->fx.tmp);
}

/* The directory d (mode/owner already set) must be refused by check_dir, write and recover. */
static void expect_dir_refused(struct st *s, const char *d)
{
    struct pki_store_spec spec = s->spec;
    struct mk_err err;

    spec.directory = d;
    assert_int_equal(pki_store_check_dir(d, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);
    assert_int_equal(pki_store_recover(&spec, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_int_equal(gen_count(d), 0);
    assert_false(exists(P("%s/current", d)));
    assert_false(exists(P("%s/client.key", d)));
}

static void test_dir_refusals(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    struct stat st;
    char d[256];

    snprintf(d, sizeof(d), "%s/d777", s->fx.tmp);
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(chmod(d, 0777), 0);
    expect_dir_refused(s, d);

    snprintf(d, sizeof(d), "%s/d770", s->fx.tmp);
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(chmod(d, 0770), 0);
    expect_dir_refused(s, d);

    snprintf(d, sizeof(d), "%s/d702", s->fx.tmp);
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(chmod(d, 0702), 0);
    expect_dir_refused(s, d);

    if (geteuid() == 0) {
        /* Owned by another non-root user (nobody). */
        snprintf(d, sizeof(d), "%s/dother", s->fx.tmp);
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(chown(d, 65534, 65534), 0);
        expect_dir_refused(s, d);
    }

    /* A symlink to a good directory is still refused. */
    assert_int_equal(mkdir(P("%s/real", s->fx.tmp), 0750), 0);
    assert_int_equal(symlink(P("%s/real", s->fx.tmp), P("%s/dlink", s->fx.tmp)), 0);
    snprintf(d, sizeof(d), "%s/dlink", s->fx.tmp);
    expect_dir_refused(s, d);
    assert_int_equal(gen_count(P("%s/real", s->fx.tmp)), 0);

    /* Missing: created 0750 under a safe parent, or under a sticky world-writable one (/tmp). */
    snprintf(d, sizeof(d), "%s/fresh", s->fx.tmp);
    assert_int_equal(pki_store_check_dir(d, &err), 0);
    assert_int_equal(lstat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(mkdir(P("%s/sticky", s->fx.tmp), 0700), 0);
    assert_int_equal(chmod(P("%s/sticky", s->fx.tmp), 01777), 0);
    assert_int_equal(pki_store_check_dir(P("%s/sticky/x", s->fx.tmp), &err), 0);
    /* ...but not under a parent others may write to without the sticky bit. */
    assert_int_equal(mkdir(P("%s/open", s->fx.tmp), 0700), 0);
    assert_int_equal(chmod(P("%s/open", s->fx.tmp), 0777), 0);
    assert_int_equal(pki_store_check_dir(P("%s/open/x", s->fx.tmp), &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_false(exists(P("%s/open/x", s->fx.tmp)));
    /* Only one level is created. */
    assert_int_equal(pki_store_check_dir(P("%s/no/such", s->fx.tmp), &err), -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    /* A file is not a directory. */
    fx_write(P("%s/afile", s->fx.tmp), "x", 1);
    assert_int_equal(pki_store_check_dir(P("%s/afile", s->fx.tmp), &err), -1);
    assert_int_equal(pki_store_check_dir("relative", &err), -1);
    assert_int_equal(err.code, MK_ERR_CONFIG);
}

static void test_stable_links_across_generations(void **state)
{
    struct st *s = *state;
    char before[N_PEM][256];
    char after[256];
    char *key_a = NULL;
    char *crt_a = NULL;
    char *key_b = NULL;
    char *crt_b = NULL;
    char *prev_crt = NULL;
    ssize_t n = 0;

    write_ok(&s->spec, &s->a);
    for (int i = 0; i < N_PEM; i++) {
        n = readlink(P("%s/%s", s->out, names[i]), before[i], sizeof(before[i]) - 1);
        assert_true(n > 0);
        before[i][n] = '\0';
    }
    key_a = mk_test_read_file(P("%s/client.key", s->out), NULL);
    crt_a = mk_test_read_file(P("%s/client.crt", s->out), NULL);

    write_ok(&s->spec, &s->b);
    for (int i = 0; i < N_PEM; i++) {
        n = readlink(P("%s/%s", s->out, names[i]), after, sizeof(after) - 1);
        assert_true(n > 0);
        after[n] = '\0';
        assert_string_equal(after, before[i]);
    }
    /* Same paths, new contents. */
    key_b = mk_test_read_file(P("%s/client.key", s->out), NULL);
    crt_b = mk_test_read_file(P("%s/client.crt", s->out), NULL);
    assert_non_null(key_a);
    assert_non_null(key_b);
    assert_string_not_equal(key_a, key_b);
    assert_string_not_equal(crt_a, crt_b);
    assert_int_equal(link_gen(s->out, "current"), 2);
    assert_int_equal(link_gen(s->out, "previous"), 1);
    /* previous still holds the old pair. */
    prev_crt = mk_test_read_file(P("%s/previous/client.crt", s->out), NULL);
    assert_non_null(prev_crt);
    assert_string_equal(prev_crt, crt_a);
    assert_read_is(&s->spec, &s->b, 2);

    /* Third generation: the first one goes. */
    write_ok(&s->spec, &s->c);
    assert_int_equal(link_gen(s->out, "current"), 3);
    assert_int_equal(link_gen(s->out, "previous"), 2);
    assert_false(exists(P("%s/.gen-1", s->out)));
    assert_true(exists(P("%s/.gen-2/client.key", s->out)));
    assert_int_equal(gen_count(s->out), 2);
    assert_read_is(&s->spec, &s->c, 3);
    assert_no_leftovers(s->out);
    free(key_a);
    free(crt_a);
    free(key_b);
    free(crt_b);
    free(prev_crt);
}

static void test_interrupted_write(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    char *key_before = NULL;
    char *key_now = NULL;
    struct pki_store_spec spec = with_p12(s);

    write_ok(&spec, &s->a);
    write_ok(&spec, &s->b);
    key_before = mk_test_read_file(P("%s/client.key", s->out), NULL);
    assert_non_null(key_before);
    for (int n = 1; n <= N_FILES; n++) {
        pki_store_test_fail_write(n);
        mk_err_clear(&err);
        assert_int_equal(pki_store_write(&spec, s->c.key, s->c.leaf, s->c.chain, &err), -1);
        assert_int_equal(err.code, MK_ERR_IO);
        assert_non_null(strstr(err.msg, "injected"));
        /* Nothing moved: current and previous as before, readable and matching. */
        assert_int_equal(link_gen(s->out, "current"), 2);
        assert_int_equal(link_gen(s->out, "previous"), 1);
        assert_read_is(&spec, &s->b, 2);
        key_now = mk_test_read_file(P("%s/client.key", s->out), NULL);
        assert_string_equal(key_now, key_before);
        free(key_now);
        /* No temp file, no partial generation. */
        assert_no_leftovers(s->out);
        assert_int_equal(gen_count(s->out), 2);
        assert_false(exists(P("%s/.gen-3", s->out)));
    }
    /* The hook counts file writes: the 6th never comes, so this write succeeds. */
    pki_store_test_fail_write(N_FILES + 1);
    write_ok(&spec, &s->c);
    pki_store_test_fail_write(0);
    assert_read_is(&spec, &s->c, 3);
    free(key_before);
}

static void test_interrupted_first_write(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    struct pki_generation gen = {0};

    for (int n = 1; n <= N_PEM; n++) {
        pki_store_test_fail_write(n);
        assert_int_equal(pki_store_write(&s->spec, s->a.key, s->a.leaf, s->a.chain, &err), -1);
        assert_int_equal(err.code, MK_ERR_IO);
        assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
        assert_int_equal(err.code, MK_ERR_NOTFOUND);
        assert_int_equal(gen_count(s->out), 0);
        assert_false(exists(P("%s/client.key", s->out)));
        assert_no_leftovers(s->out);
    }
    pki_store_test_fail_write(0);
}

static void test_write_file(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    gid_t gid = share_gid();
    struct stat st;
    char path[256];
    char *got = NULL;
    mode_t old_umask = umask(077);

    snprintf(path, sizeof(path), "%s/state.json", s->fx.tmp);
    /* The mode is exact, whatever the umask. */
    assert_int_equal(pki_store_write_file(path, "{\"v\":1}", 7, 0644, (uid_t)-1, gid, &err), 0);
    umask(old_umask);
    assert_file_mode(path, 0644);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, gid);
    /* Replacing keeps the old content on failure, and leaves no temp file. */
    pki_store_test_fail_write(1);
    assert_int_equal(pki_store_write_file(path, "{\"v\":2}", 7, 0600, -1, -1, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    got = mk_test_read_file(path, NULL);
    assert_string_equal(got, "{\"v\":1}");
    free(got);
    assert_no_leftovers(s->fx.tmp);
    assert_int_equal(pki_store_write_file(path, "{\"v\":2}", 7, 0600, -1, -1, &err), 0);
    got = mk_test_read_file(path, NULL);
    assert_string_equal(got, "{\"v\":2}");
    free(got);
    assert_file_mode(path, 0600);
    /* Empty content is a valid file. */
    assert_int_equal(pki_store_write_file(P("%s/empty", s->fx.tmp), "", 0, 0600, -1, -1, &err), 0);
    assert_file_mode(P("%s/empty", s->fx.tmp), 0600);
    /* Negative cases. */
    assert_int_equal(pki_store_write_file(P("%s/nodir/x", s->fx.tmp), "x", 1, 0600, -1, -1, &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_int_equal(pki_store_write_file(P("%s/", s->fx.tmp), "x", 1, 0600, -1, -1, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(mkdir(P("%s/adir", s->fx.tmp), 0700), 0);
    assert_int_equal(pki_store_write_file(P("%s/adir", s->fx.tmp), "x", 1, 0600, -1, -1, &err), -1);
    assert_int_equal(err.code, MK_ERR_IO);
    assert_no_leftovers(s->fx.tmp);
}

static void test_symlinks_not_followed(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    char outside[256];
    char outdir[256];
    char dir[256];
    char *got = NULL;
    struct stat st;
    struct pki_store_spec spec = s->spec;

    snprintf(outside, sizeof(outside), "%s/outside.txt", s->fx.tmp);
    snprintf(outdir, sizeof(outdir), "%s/outside-dir", s->fx.tmp);
    spec.directory = dir;

    fx_write(outside, "ORIGINAL", 8);
    assert_int_equal(mkdir(outdir, 0700), 0);
    fx_write(P("%s/keep", outdir), "KEEP", 4);
    assert_int_equal(pki_store_check_dir(s->out, &err), 0);

    /* A symlink at the temp name of the single-file writer. */
    assert_int_equal(symlink(outside, P("%s/.state.json.mskpki-tmp", s->out)), 0);
    assert_int_equal(pki_store_write_file(P("%s/state.json", s->out), "NEW", 3, 0600, -1, -1, &err),
                     0);
    got = mk_test_read_file(outside, NULL);
    assert_string_equal(got, "ORIGINAL");
    free(got);
    assert_file_mode(P("%s/state.json", s->out), 0600);
    got = mk_test_read_file(P("%s/state.json", s->out), NULL);
    assert_string_equal(got, "NEW");
    free(got);

    /* A symlink at the output name is replaced, not written through. */
    assert_int_equal(symlink(outside, P("%s/state2.json", s->out)), 0);
    assert_int_equal(
        pki_store_write_file(P("%s/state2.json", s->out), "NEW", 3, 0600, -1, -1, &err), 0);
    got = mk_test_read_file(outside, NULL);
    assert_string_equal(got, "ORIGINAL");
    free(got);
    assert_file_mode(P("%s/state2.json", s->out), 0600);

    /* Symlinks at the temp names of current/previous. */
    assert_int_equal(symlink(outside, P("%s/.current.mskpki-tmp", s->out)), 0);
    assert_int_equal(symlink(outdir, P("%s/.previous.mskpki-tmp", s->out)), 0);
    write_ok(&s->spec, &s->a);
    write_ok(&s->spec, &s->b);
    got = mk_test_read_file(outside, NULL);
    assert_string_equal(got, "ORIGINAL");
    free(got);
    assert_int_equal(link_gen(s->out, "current"), 2);
    assert_int_equal(link_gen(s->out, "previous"), 1);
    assert_no_leftovers(s->out);

    /* A planted stable link pointing outside: refused, outside untouched. */
    snprintf(dir, sizeof(dir), "%s/o2", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(symlink(outside, P("%s/client.key", spec.directory)), 0);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);
    got = mk_test_read_file(outside, NULL);
    assert_string_equal(got, "ORIGINAL");
    free(got);
    assert_int_equal(gen_count(spec.directory), 0);
    assert_false(exists(P("%s/current", spec.directory)));

    /* A stable link to another name inside current is refused too. */
    snprintf(dir, sizeof(dir), "%s/o3", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(symlink("current/client.key", P("%s/client.crt", spec.directory)), 0);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);
    /* A regular file where a stable link goes. */
    snprintf(dir, sizeof(dir), "%s/o4", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    fx_write(P("%s/ca.crt", spec.directory), "old", 3);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);

    /* `current` pointing outside the store: refused, the outside directory untouched. */
    snprintf(dir, sizeof(dir), "%s/o5", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(symlink(outdir, P("%s/current", spec.directory)), 0);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);
    assert_int_equal(fx_count_named(outdir, ""), 2); /* outdir itself and keep */
    assert_int_equal(lstat(P("%s/current", spec.directory), &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    /* `previous` a real directory: refused. */
    snprintf(dir, sizeof(dir), "%s/o6", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(mkdir(P("%s/previous", spec.directory), 0700), 0);
    expect_write_fails(&spec, &s->a, NULL, MK_ERR_PERM);
    assert_int_equal(gen_count(spec.directory), 0);
}

static void test_recover(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    char victim[256];
    char outside[256];
    char dir[256];
    struct pki_store_spec spec = s->spec;
    char *got = NULL;

    snprintf(victim, sizeof(victim), "%s/victim", s->fx.tmp);
    snprintf(outside, sizeof(outside), "%s/outside.txt", s->fx.tmp);
    spec.directory = dir;

    fx_write(outside, "ORIGINAL", 8);
    assert_int_equal(mkdir(victim, 0700), 0);
    fx_write(P("%s/keep", victim), "KEEP", 4);

    /* Nothing to do on a directory that does not exist yet. */
    assert_int_equal(pki_store_recover(&s->spec, &err), 0);
    assert_false(exists(s->out));

    write_ok(&s->spec, &s->a);
    write_ok(&s->spec, &s->b);
    /* What a crash leaves: a half-written generation, temp files, plus planted symlinks. */
    assert_int_equal(mkdir(P("%s/.gen-7", s->out), 0755), 0);
    fx_write(P("%s/.gen-7/client.key", s->out), "-----BEGIN", 10);
    fx_write(P("%s/.gen-7/.client.crt.mskpki-tmp", s->out), "-----BEGIN", 10);
    fx_write(P("%s/.current.mskpki-tmp", s->out), "", 0);
    fx_write(P("%s/.gen-2/.client.p12.mskpki-tmp", s->out), "half", 4);
    assert_int_equal(symlink(outside, P("%s/.previous.mskpki-tmp", s->out)), 0);
    assert_int_equal(symlink(victim, P("%s/.gen-9", s->out)), 0);

    assert_int_equal(pki_store_recover(&s->spec, &err), 0);
    assert_false(exists(P("%s/.gen-7", s->out)));
    assert_false(exists(P("%s/.gen-9", s->out)));
    assert_no_leftovers(s->out);
    /* The symlinks were removed, not followed. */
    got = mk_test_read_file(P("%s/keep", victim), NULL);
    assert_string_equal(got, "KEEP");
    free(got);
    got = mk_test_read_file(outside, NULL);
    assert_string_equal(got, "ORIGINAL");
    free(got);
    /* The live generations are intact. */
    assert_true(exists(P("%s/.gen-1/client.key", s->out)));
    assert_true(exists(P("%s/.gen-2/client.key", s->out)));
    assert_read_is(&s->spec, &s->b, 2);
    /* Numbers keep growing from what is there. */
    write_ok(&s->spec, &s->c);
    assert_int_equal(link_gen(s->out, "current"), 3);

    /* A crash during the very first write: everything goes. */
    snprintf(dir, sizeof(dir), "%s/first", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(mkdir(P("%s/.gen-1", spec.directory), 0755), 0);
    fx_write(P("%s/.gen-1/client.key", spec.directory), "x", 1);
    assert_int_equal(pki_store_recover(&spec, &err), 0);
    assert_int_equal(gen_count(spec.directory), 0);

    /* An unexpected `current` means we cannot tell live from dead: remove nothing. */
    snprintf(dir, sizeof(dir), "%s/odd", s->fx.tmp);
    assert_int_equal(mkdir(spec.directory, 0700), 0);
    assert_int_equal(mkdir(P("%s/.gen-5", spec.directory), 0755), 0);
    fx_write(P("%s/current", spec.directory), "not a link", 10);
    assert_int_equal(pki_store_recover(&spec, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_true(exists(P("%s/.gen-5", spec.directory)));
}

static void test_monotonic_numbers(void **state)
{
    struct st *s = *state;
    struct mk_err err;

    assert_int_equal(pki_store_check_dir(s->out, &err), 0);
    assert_int_equal(mkdir(P("%s/.gen-41", s->out), 0755), 0);
    write_ok(&s->spec, &s->a);
    assert_int_equal(link_gen(s->out, "current"), 42);
    /* The stray one was not current or previous: removed. */
    assert_false(exists(P("%s/.gen-41", s->out)));
    write_ok(&s->spec, &s->b);
    assert_int_equal(link_gen(s->out, "current"), 43);
    assert_int_equal(link_gen(s->out, "previous"), 42);
}

static void test_read_mismatch_and_errors(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    struct pki_generation gen = {0};
    struct pki_store_spec spec = s->spec;
    size_t len = 0;
    char *old_key = NULL;

    /* No directory, then an empty one. */
    assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_int_equal(pki_store_check_dir(s->out, &err), 0);
    assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);

    write_ok(&s->spec, &s->a);
    write_ok(&s->spec, &s->b);
    /* The key of the previous generation next to the current certificate. */
    old_key = mk_test_read_file(P("%s/.gen-1/client.key", s->out), &len);
    assert_non_null(old_key);
    assert_int_equal(
        pki_store_write_file(P("%s/.gen-2/client.key", s->out), old_key, len, 0600, -1, -1, &err),
        0);
    free(old_key);
    mk_err_clear(&err);
    assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_VERIFY);
    assert_null(gen.key);

    /* A corrupted certificate, then a missing one. */
    write_ok(&s->spec, &s->c);
    assert_int_equal(
        pki_store_write_file(P("%s/.gen-3/client.crt", s->out), "garbage\n", 8, 0644, -1, -1, &err),
        0);
    assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    assert_int_equal(unlink(P("%s/.gen-3/client.crt", s->out)), 0);
    assert_int_equal(pki_store_read(&s->spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);

    /* Without a chain file, the chain comes from the full chain. */
    write_ok(&s->spec, &s->a);
    spec.chain_name = NULL;
    assert_read_is(&spec, &s->a, 4);
    spec.fullchain_name = NULL;
    assert_int_equal(pki_store_read(&spec, &gen, &err), 0);
    assert_int_equal(sk_X509_num(gen.chain), 0);
    pki_generation_clear(&gen);
    pki_generation_clear(&gen); /* cleared twice is fine */
}

/* The PBKDF2 iteration count from `openssl asn1parse` output: the first INTEGER after the PBKDF2
 * OID (hex).  -1 when absent. */
static long asn1parse_pbkdf2_iter(const char *text)
{
    const char *kdf = strstr(text, ":PBKDF2");
    const char *p = kdf != NULL ? strstr(kdf, "prim: INTEGER") : NULL;
    if (p == NULL || (p = strchr(p, ':')) == NULL || (p = strchr(p + 1, ':')) == NULL) {
        return -1;
    }
    return strtol(p + 1, NULL, 16);
}

/* kcat's output (stdout and stderr) when it creates an SSL client with dir's key and password and
 * asks 127.0.0.1:1, where nothing listens, for metadata.  Caller frees with free(). */
static char *kcat_load_key(const char *dir, const char *password)
{
    char cmd[1024];
    char *out = NULL;

    snprintf(cmd, sizeof(cmd),
             "kcat -L -b 127.0.0.1:1 -m 1 -X security.protocol=ssl "
             "-X ssl.key.location=%s/client.key -X ssl.key.password=%s "
             "-X ssl.certificate.location=%s/client.crt -X ssl.ca.location=%s/ca.crt",
             dir, password, dir, dir);
    (void)fx_run(cmd, &out); /* non-zero either way: no broker answers */
    return out;
}

static void test_encrypted_key(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    struct pki_store_spec spec = s->spec;
    struct pki_secret *pass = pki_secret_from("key-pass-1", 10, &err);
    struct pki_secret *wrong = pki_secret_from("key-pass-2", 10, &err);
    struct pki_generation gen = {0};
    char *pem = NULL;
    char *out = NULL;
    char cmd[1024];

    assert_non_null(pass);
    assert_non_null(wrong);
    spec.key_passphrase = pass;
    write_ok(&spec, &s->a);
    pem = mk_test_read_file(P("%s/client.key", s->out), NULL);
    assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    free(pem);
    assert_read_is(&spec, &s->a, 1);
    spec.key_passphrase = wrong;
    assert_int_equal(pki_store_read(&spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);
    spec.key_passphrase = NULL;
    assert_int_equal(pki_store_read(&spec, &gen, &err), -1);
    assert_int_equal(err.code, MK_ERR_INVALID);

    fx_write(P("%s/pw", s->fx.tmp), "key-pass-1\n", 11);
    fx_write(P("%s/badpw", s->fx.tmp), "key-pass-2\n", 11);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in %s/client.key -passin file:%s/pw -noout", s->out,
             s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in %s/client.key -passin file:%s/badpw -noout",
             s->out, s->fx.tmp);
    assert_int_not_equal(fx_run(cmd, &out), 0);
    free(out);

    /* The work factor as openssl asn1parse shows it: PBKDF2 with hmacWithSHA256 and at least the
     * PKCS#12's 100000 iterations (OpenSSL's default would be 2048, issue 16). */
    snprintf(cmd, sizeof(cmd), "openssl asn1parse -in %s/client.key", s->out);
    assert_int_equal(fx_run(cmd, &out), 0);
    assert_non_null(strstr(out, ":hmacWithSHA256"));
    assert_true(asn1parse_pbkdf2_iter(out) >= 100000);
    free(out);

    /* librdkafka (kcat) loads the key when it creates its client: a key it cannot decrypt fails
     * with "ssl.key.location failed" before any broker is contacted (port 1: nothing listens). */
    out = kcat_load_key(s->out, "key-pass-1");
    assert_null(strstr(out, "Failed to create"));
    assert_non_null(strstr(out, "Connect to"));
    free(out);
    out = kcat_load_key(s->out, "key-pass-2");
    assert_non_null(strstr(out, "ssl.key.location failed"));
    free(out);

    /* Java (javax.crypto.EncryptedPrivateKeyInfo, the JDK's own PBES2) decrypts it. */
    snprintf(cmd, sizeof(cmd), "java %s/tests/tools/ReadEncryptedKey.java %s/client.key %s/pw",
             getenv("MSKPKI_SOURCE_DIR"), s->out, s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    assert_non_null(strstr(out, "ok EC PBEWithHmacSHA256AndAES_256"));
    free(out);
    snprintf(cmd, sizeof(cmd), "java %s/tests/tools/ReadEncryptedKey.java %s/client.key %s/badpw",
             getenv("MSKPKI_SOURCE_DIR"), s->out, s->fx.tmp);
    assert_int_not_equal(fx_run(cmd, &out), 0);
    free(out);
    pki_secret_free(pass);
    pki_secret_free(wrong);
}

static void test_pkcs12_clis(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    char cmd[1024];
    char *out = NULL;
    char *der = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;
    struct pki_store_spec spec = with_p12(s);

    write_ok(&spec, &s->a);
    fx_write(P("%s/pw", s->fx.tmp), "p12-secret\n", 11);
    fx_write(P("%s/badpw", s->fx.tmp), "p12-secreT\n", 11);

    snprintf(cmd, sizeof(cmd), "openssl pkcs12 -in %s/client.p12 -passin file:%s/pw -info -noout",
             s->out, s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    assert_non_null(strstr(out, "MAC: sha256"));
    assert_non_null(strstr(out, "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"));
    assert_non_null(strstr(out, "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"));
    free(out);
    /* -noout hides the bag attributes; the alias shows with the certificates. */
    snprintf(cmd, sizeof(cmd), "openssl pkcs12 -in %s/client.p12 -passin file:%s/pw -info -nokeys",
             s->out, s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    assert_non_null(strstr(out, "friendlyName: kafka-client"));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "openssl pkcs12 -in %s/client.p12 -passin file:%s/badpw -info -noout", s->out,
             s->fx.tmp);
    assert_int_not_equal(fx_run(cmd, &out), 0);
    free(out);

    snprintf(cmd, sizeof(cmd),
             "keytool -list -keystore %s/client.p12 -storetype PKCS12 -storepass:file %s/pw",
             s->out, s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    assert_non_null(strstr(out, "kafka-client"));
    assert_non_null(strstr(out, "PrivateKeyEntry"));
    free(out);
    snprintf(cmd, sizeof(cmd),
             "keytool -list -keystore %s/client.p12 -storetype PKCS12 -storepass:file %s/badpw",
             s->out, s->fx.tmp);
    assert_int_not_equal(fx_run(cmd, &out), 0);
    free(out);
    /* keytool -list decrypts only the certificates; Java decrypts the shrouded key bag when a
     * client asks for the key.  Copying the entry into a new keystore makes keytool do that, so a
     * key encryption Java cannot read fails here.  The copy, re-encoded by Java, must hold our
     * key. */
    snprintf(cmd, sizeof(cmd),
             "keytool -importkeystore -noprompt -srckeystore %s/client.p12 -srcstoretype PKCS12 "
             "-srcstorepass:file %s/pw -destkeystore %s/java-copy.p12 -deststoretype PKCS12 "
             "-deststorepass:file %s/pw",
             s->out, s->fx.tmp, s->fx.tmp, s->fx.tmp);
    assert_int_equal(fx_run(cmd, &out), 0);
    free(out);
    der = mk_test_read_file(P("%s/java-copy.p12", s->fx.tmp), &len);
    assert_non_null(der);
    assert_int_equal(pki_format_pkcs12_parse(der, len, s->p12pw, &key, NULL, NULL, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, s->a.key), 1);
    EVP_PKEY_free(key);
    key = NULL;
    free(der);

    /* Our parser reads the file back; a wrong password fails. */
    der = mk_test_read_file(P("%s/client.p12", s->out), &len);
    assert_int_equal(pki_format_pkcs12_parse(der, len, s->p12pw, &key, NULL, NULL, &err), 0);
    assert_int_equal(EVP_PKEY_eq(key, s->a.key), 1);
    EVP_PKEY_free(key);
    free(der);
}

static void test_parse_gen(void **state)
{
    unsigned long n = 0;
    static const char *const bad[] = {".gen-",
                                      ".gen-0",
                                      ".gen-01",
                                      ".gen--1",
                                      ".gen-+1",
                                      ".gen-1x",
                                      ".gen- 1",
                                      "gen-1",
                                      ".Gen-1",
                                      ".gen-1/",
                                      ".gen-99999999999999999999999",
                                      ""};

    (void)state;
    assert_int_equal(store_parse_gen(".gen-1", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_parse_gen(".gen-4294967296", &n), 0);
    assert_int_equal(n, 4294967296UL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 77;
        if (store_parse_gen(bad[i], &n) == 0) {
            fail_msg("\"%s\" was accepted as a generation name", bad[i]);
        }
        assert_int_equal(n, 77);
    }
}

static void test_concurrent_writer_refused(void **state)
{
    struct st *s = *state;
    struct mk_err err;
    int fd = -1;

    assert_int_equal(pki_store_check_dir(s->out, &err), 0);
    fd = open(s->out, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    expect_write_fails(&s->spec, &s->a, NULL, MK_ERR_STATE);
    assert_int_equal(pki_store_recover(&s->spec, &err), -1);
    assert_int_equal(err.code, MK_ERR_STATE);
    close(fd);
    write_ok(&s->spec, &s->a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_and_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_on_existing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stable_links_across_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_first_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monotonic_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_mismatch_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs12_clis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writer_refused, setup, teardown),
        cmocka_unit_test(test_parse_gen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
