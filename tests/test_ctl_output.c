/*
 * test_ctl_output.c: what every mskpkictl subcommand shares (ctl/output.h): the abbreviation
 * rule, range-checked numbers, exit statuses, XML and Prometheus escaping, report files.
 */
#include <dirent.h>
#include <getopt.h>
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

#include "ctl/ctl.h"
#include "ctl/output.h"
#include "pki/text.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

static const struct option opts[] = {
    {"bootstrap", required_argument, NULL, 'b'},
    {"bootstrap-timeout", required_argument, NULL, 't'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int exact(int argc, char **argv)
{
    /* Usage errors go to stderr; keep the test log readable. */
    FILE *saved = stderr;
    int rc;
    stderr = fopen("/dev/null", "w");
    rc = ctl_options_begin("probe", argc, argv, opts);
    fclose(stderr);
    stderr = saved;
    return rc;
}

static void test_full_names_pass(void **state)
{
    char *a[] = {"probe", "--bootstrap", "b:9094", "--quiet", "--bootstrap-timeout=5", NULL};
    (void)state;
    assert_int_equal(exact(5, a), 0);
}

static void test_abbreviation_refused(void **state)
{
    char *a[] = {"probe", "--boot", "b:9094", NULL};
    char *b[] = {"probe", "--quiet", "--qui", NULL};
    char *c[] = {"probe", "--bootstrap=b:9094", "--bootstrap-t=5", NULL};
    (void)state;
    assert_int_equal(exact(3, a), CTL_EXIT_USAGE);
    assert_int_equal(exact(3, b), CTL_EXIT_USAGE);
    assert_int_equal(exact(3, c), CTL_EXIT_USAGE);
}

static void test_values_and_operands_not_options(void **state)
{
    /* An option's value may look like an option; after "--" everything is an operand. */
    char *a[] = {"probe", "--bootstrap", "--boot", "--", "--whatever", NULL};
    char *b[] = {"probe", "--unknown", NULL};
    (void)state;
    assert_int_equal(exact(5, a), 0);
    assert_int_equal(exact(2, b), CTL_EXIT_USAGE);
}

static void test_parse_long(void **state)
{
    long v = -7;
    (void)state;
    assert_int_equal(mk_parse_long("42", 1, 64, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(mk_parse_long("0", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long("65", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long("4x", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long("", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long(" 4", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long("+4", 1, 64, &v), -1);
    assert_int_equal(mk_parse_long("99999999999999999999999", 1, 64, &v), -1);
    assert_int_equal(v, 42);
}

static void test_exit_for(void **state)
{
    struct mk_err e = {0};
    (void)state;
    e.code = MK_ERR_CONFIG;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_USAGE);
    e.code = MK_ERR_NET;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_UNAVAILABLE);
    e.code = MK_ERR_CRYPTO;
    assert_int_equal(ctl_exit_for(&e), CTL_EXIT_FINDINGS);
}

static void test_escapes(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    (void)state;
    assert_non_null(mem);
    ctl_xml_put(mem, "a<b>&\"c'\x01\n");
    fputc('|', mem);
    mk_prom_label_put(mem, "x\"y\\z\nw");
    fclose(mem);
    assert_string_equal(text, "a&lt;b&gt;&amp;&quot;c&apos;?\n|x\\\"y\\\\z\\nw");
    free(text);
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_write_report(void **state)
{
    char tmpl[] = "/tmp/mskpki-output-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char path[256], missing[256];
    struct mk_err err = {0};
    struct stat st;
    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/r.prom", dir);
    assert_int_equal(ctl_write_report("--output", path, "a 1\n", 4, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 4);
    snprintf(missing, sizeof(missing), "%s/no/r.prom", dir);
    assert_int_equal(ctl_write_report("--output", missing, "a 1\n", 4, &err), -1);
    assert_true(strncmp(err.msg, "--output", 8) == 0);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* --quiet and --verbose: each sets the verbosity, both together are a usage error. */
static void test_verbosity(void **state)
{
    FILE *saved = stderr;
    (void)state;
    ctl_verbosity_set(CTL_NORMAL);
    assert_int_equal(ctl_verbosity_get(), CTL_NORMAL);
    assert_int_equal(ctl_verbosity_option("probe", 'q'), 0);
    assert_int_equal(ctl_verbosity_get(), CTL_QUIET);
    assert_int_equal(ctl_verbosity_option("probe", 'q'), 0); /* repeated: fine */
    stderr = fopen("/dev/null", "w");
    assert_int_equal(ctl_verbosity_option("probe", 'v'), CTL_EXIT_USAGE);
    fclose(stderr);
    stderr = saved;
    ctl_verbosity_set(CTL_NORMAL);
    assert_int_equal(ctl_verbosity_option("probe", 'v'), 0);
    assert_int_equal(ctl_verbosity_get(), CTL_VERBOSE);
    ctl_verbosity_set(CTL_NORMAL);
}

/* A missing --ca-file: one line naming the file and the system error, not OpenSSL's stack. */
static void test_err_ossl_one_line(void **state)
{
    struct mk_err err = {0};
    (void)state;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_not_equal(SSL_CTX_load_verify_locations(ctx, "/nonexistent/ca.pem", NULL), 1);
    ctl_err_ossl(&err, MK_ERR_USAGE, "--ca-file %s: no usable CA certificate",
                 "/nonexistent/ca.pem");
    assert_int_equal(err.code, MK_ERR_USAGE);
    assert_string_equal(err.msg, "--ca-file /nonexistent/ca.pem: no usable CA certificate: "
                                 "No such file or directory");
    assert_int_equal(ERR_peek_error(), 0); /* the queue is drained */
    /* Nothing queued: the message alone. */
    ctl_err_ossl(&err, MK_ERR_CRYPTO, "X509_new");
    assert_string_equal(err.msg, "X509_new");
    SSL_CTX_free(ctx);
}

/* pki's mk_err_ossl() stacks are cut to their first reason when printed. */
static void test_err_condense(void **state)
{
    struct mk_err err = {0};
    (void)state;
    mk_err_set(&err, MK_ERR_USAGE,
               "key.pem: cannot load private key: error:80000002:system library::No such file or "
               "directory; error:10000080:BIO routines::no such file; error:05880002:x509 "
               "certificate routines::system lib");
    assert_string_equal(ctl_err_condense(&err),
                        "key.pem: cannot load private key: No such file or directory");
    mk_err_set(&err, MK_ERR_USAGE, "a.pem: error:1E08010C:DECODER routines::unsupported");
    assert_string_equal(ctl_err_condense(&err), "a.pem: unsupported");
    /* Not a stack: "error:" in a file name or a message stays. */
    mk_err_set(&err, MK_ERR_IO, "/tmp/error:x: cannot open: No such file or directory");
    assert_string_equal(ctl_err_condense(&err),
                        "/tmp/error:x: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_names_pass),
        cmocka_unit_test(test_abbreviation_refused),
        cmocka_unit_test(test_values_and_operands_not_options),
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_exit_for),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_write_report),
        cmocka_unit_test(test_verbosity),
        cmocka_unit_test(test_err_ossl_one_line),
        cmocka_unit_test(test_err_condense),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
