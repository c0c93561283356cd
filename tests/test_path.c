/* test_path.c: the StrictModes walk (pki/path.c): owners, group/other write, sticky /tmp,
 * links followed, missing tails. */
#include <errno.h>
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

#include "pki/path.h"

/* A base that passes the walk itself: beneath the build directory (never /tmp, which is
 * shared and sticky: the walk refuses it). */
static char base[512];
static const struct pki_path_owners owners = {{0}, 0, "root"};

static int setup(void **state)
{
    const char *b = getenv("MSKPKI_BUILD_DIR");
    char cwd[256];

    (void)state;
    if (b == NULL) {
        b = getcwd(cwd, sizeof(cwd));
    }
    snprintf(base, sizeof(base), "%s/test_path.XXXXXX", b != NULL ? b : ".");
    return mkdtemp(base) == NULL || chmod(base, 0755) != 0 ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void make(const char *rel, mode_t mode, int dir)
{
    char p[700];

    snprintf(p, sizeof(p), "%s/%s", base, rel);
    if (dir) {
        assert_int_equal(mkdir(p, mode), 0);
    } else {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
    assert_int_equal(chmod(p, mode), 0);
}

static int check(const char *rel, unsigned flags, struct mk_err *err)
{
    char p[700];

    snprintf(p, sizeof(p), "%s/%s", base, rel);
    return pki_path_check_trusted(p, &owners, flags, "hook program", err);
}

/* The base must itself pass (its parents are the build tree's, root-owned in CI). */
static int base_trusted(void)
{
    struct mk_err err;
    return geteuid() == 0 && pki_path_check_trusted(base, &owners, PKI_PATH_DIR, "t", &err) == 0;
}

static void test_good_file_and_dir(void **state)
{
    struct mk_err err;

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    make("ok", 0755, 1);
    make("ok/prog", 0755, 0);
    assert_int_equal(check("ok/prog", 0, &err), 0);
    assert_int_equal(check("ok", PKI_PATH_DIR, &err), 0);
    /* The wrong kind is refused. */
    assert_int_equal(check("ok", 0, &err), -1);
    assert_int_equal(check("ok/prog", PKI_PATH_DIR, &err), -1);
}

static void test_group_writable_program(void **state)
{
    struct mk_err err;

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    make("gw", 0755, 1);
    make("gw/prog", 0775, 0);
    assert_int_equal(check("gw/prog", 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, "gw/prog is writable by its group (mode 0775)"));
}

static void test_dir_writable_by_others(void **state)
{
    struct mk_err err;

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    make("ow", 0757, 1);
    make("ow/prog", 0755, 0);
    assert_int_equal(check("ow/prog", 0, &err), -1);
    assert_non_null(strstr(err.msg, "/ow is writable by everyone (mode 0757)"));
}

static void test_foreign_owner(void **state)
{
    char p[700];
    struct mk_err err;
    struct pki_path_owners agent = {{65534}, 1, "root or nobody"};

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    make("fo", 0755, 1);
    make("fo/prog", 0755, 0);
    snprintf(p, sizeof(p), "%s/fo", base);
    assert_int_equal(chown(p, 65534, 65534), 0);
    assert_int_equal(check("fo/prog", 0, &err), -1);
    assert_non_null(strstr(err.msg, "fo is owned by uid 65534 (only root may own it)"));
    /* Owned by the agent's user: allowed. */
    snprintf(p, sizeof(p), "%s/fo/prog", base);
    assert_int_equal(pki_path_check_trusted(p, &agent, 0, "hook program", &err), 0);
}

static void test_tmp_refused(void **state)
{
    struct mk_err err;
    struct stat st;

    (void)state;
    if (stat("/tmp", &st) != 0 || (st.st_mode & 01002) != 01002) {
        skip();
    }
    assert_int_equal(pki_path_check_trusted("/tmp/x/y", &owners, PKI_PATH_DIR | PKI_PATH_MISSING,
                                            "state_dir", &err),
                     -1);
    assert_int_equal(err.code, MK_ERR_PERM);
    assert_non_null(strstr(err.msg, "state_dir /tmp/x/y: /tmp is writable by everyone (mode 1777)"
                                    ": a shared directory is not safe"));
}

static void test_link_target_checked(void **state)
{
    char p[700];
    char t[700];
    struct mk_err err;

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    make("lt", 0777, 1);
    assert_int_equal(chmod(strcat(strcpy(t, base), "/lt"), 0777), 0);
    make("lt/prog", 0755, 0);
    make("ld", 0755, 1);
    /* A link in a good directory whose target lies in a world-writable one. */
    snprintf(p, sizeof(p), "%s/ld/prog", base);
    snprintf(t, sizeof(t), "%s/lt/prog", base);
    assert_int_equal(symlink(t, p), 0);
    assert_int_equal(check("ld/prog", 0, &err), -1);
    assert_non_null(strstr(err.msg, "/lt is writable by everyone"));
    /* A relative link to a good file passes. */
    make("ld/real", 0755, 0);
    snprintf(p, sizeof(p), "%s/ld/rel", base);
    assert_int_equal(symlink("real", p), 0);
    assert_int_equal(check("ld/rel", 0, &err), 0);
}

static void test_missing(void **state)
{
    struct mk_err err;

    (void)state;
    if (!base_trusted()) {
        skip();
    }
    assert_int_equal(check("nope/deeper", PKI_PATH_DIR | PKI_PATH_MISSING, &err), 0);
    assert_int_equal(check("nope/prog", 0, &err), -1);
    assert_int_equal(err.code, MK_ERR_NOTFOUND);
    assert_int_equal(pki_path_check_trusted("relative", &owners, 0, "x", &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file_and_dir),   cmocka_unit_test(test_group_writable_program),
        cmocka_unit_test(test_dir_writable_by_others), cmocka_unit_test(test_foreign_owner),
        cmocka_unit_test(test_tmp_refused),         cmocka_unit_test(test_link_target_checked),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
