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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
