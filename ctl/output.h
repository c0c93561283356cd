/*
 * output.h: what every mskpkictl subcommand shares: usage errors, the option parser and its
 * abbreviation rule, range-checked numbers, exit statuses for errors, XML escaping for JUnit
 * reports, and report files written through pki's one atomic writer.  Exit statuses are those of
 * ctl.h.
 */
#ifndef CTL_OUTPUT_H
#define CTL_OUTPUT_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "pki/err.h"

/*
 * Prints "mskpkictl CMD: MSG (see mskpkictl CMD --help)" on stderr and returns CTL_EXIT_USAGE.
 * cmd is the subcommand as typed ("probe", "cert issue").
 */
int ctl_usage_error(const char *cmd, const char *fmt, ...) MK_PRINTF(2, 3);

/*
 * Starts a getopt_long() loop (optind = 1, opterr = 0) after checking mskpkictl's one
 * abbreviation rule over the whole command line: long options are spelled
 * out in full.  glibc accepts any unambiguous prefix (--boot for --bootstrap), which breaks
 * scripts the day a second option shares the prefix.  Values may follow as the next word or
 * after '=' (--format=json); everything after "--" is an operand.  Returns 0, or prints the
 * usage error for the first abbreviated or unknown option and returns CTL_EXIT_USAGE.
 */
int ctl_options_begin(const char *cmd, int argc, char **argv, const struct option *longopts);

/* The same rule for a parser that reports through err (MK_ERR_USAGE) instead of printing; it
 * also sets optind = 1 and opterr = 0.  Returns 0 or -1. */
int ctl_options_check(int argc, char **argv, const struct option *longopts,
                      struct mk_err *err) MK_MUST_CHECK;

/*
 * The diagnostic for a getopt_long() return of ':' (a missing value: "--x needs a value") or
 * anything else it did not expect ("unknown option '--x'") through ctl_usage_error().  The
 * loop's shortopts start with ':'.  Returns CTL_EXIT_USAGE.
 */
int ctl_option_error(const char *cmd, int ch, int argc, char **argv);

/* The exit status for a failed operation: 3 (could not run: network, credentials, timeout, a
 * pending AWS issuance, an unreadable file), 2 (bad usage or config, unsafe permissions),
 * else 1 (the CA refused, verification failed, findings). */
int ctl_exit_for(const struct mk_err *err);

/*
 * Writes a report (not a secret: 0644) to path atomically through pki_store_write_file(): a
 * textfile collector or a CI step never reads half a report, and a failure leaves path as it
 * was.  The message in err starts with opt and path ("--output FILE").
 */
int ctl_write_report(const char *opt, const char *path, const char *data, size_t len,
                     struct mk_err *err) MK_MUST_CHECK;

/*
 * --quiet and --verbose, one meaning for every subcommand:
 *   quiet:   stdout carries the result alone (the report, the one line that says what was done),
 *            without notes or hints; stderr carries errors only (log level error).  For status,
 *            whose result is a verdict, the exit status alone (as `systemctl is-active --quiet`).
 *   normal:  the result, its notes, warnings and errors (log level warn).
 *   verbose: as normal, plus the debug log lines on stderr (level=debug event=...: the AWS calls
 *            and their endpoints, the credential source, OpenSSL's whole error stack).
 * The two exclude each other.  Each subcommand's longopts include CTL_VERBOSITY_OPTIONS and hand
 * the 'q' and 'v' cases to ctl_verbosity_option(); after parsing, ctl_log_begin() sets up pki's
 * log.  The setting is process-wide (one subcommand per process).
 */
enum ctl_verbosity { CTL_QUIET = -1, CTL_NORMAL = 0, CTL_VERBOSE = 1 };
#define CTL_VERBOSITY_OPTIONS                                                                      \
    {"quiet", no_argument, NULL, 'q'}, { "verbose", no_argument, NULL, 'v' }
/* The usage text of the two options, for the subcommands' --help. */
#define CTL_VERBOSITY_USAGE "[--quiet | --verbose]"

/* Records --quiet (ch 'q') or --verbose ('v').  Returns 0, or the usage error (CTL_EXIT_USAGE)
 * when both are given. */
int ctl_verbosity_option(const char *cmd, int ch);
/* Sets the verbosity directly (parsers that do not use getopt, tests). */
void ctl_verbosity_set(enum ctl_verbosity v);
enum ctl_verbosity ctl_verbosity_get(void);
/* Sets up pki's log to stderr at the level the verbosity says; floor raises the normal level
 * (a config's log.level, never below warn) but never quiet's or verbose's. */
void ctl_log_begin(int floor);

/*
 * Fills err with code and one line "WHAT: REASON" from OpenSSL's error queue (which it empties):
 * the reason is the oldest entry, where the cause is (a system error as strerror() words it:
 * "No such file or directory"), not the whole stack of every layer it passed.  fmt names the
 * file or option.  With --verbose every entry of the stack is also logged at debug level.
 */
void ctl_err_ossl(struct mk_err *err, enum mk_code code, const char *fmt, ...) MK_PRINTF(3, 4);

/* MK_GUARD_OSSL through ctl_err_ossl(): on failure fills err and jumps to out. */
#define CTL_GUARD_OSSL(cond, err, code, ...)                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ctl_err_ossl((err), (code), __VA_ARGS__);                                              \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/*
 * Shortens an OpenSSL stack that pki's mk_err_ossl() left in err->msg ("...: error:80000002:
 * system library::No such file or directory; error:10000080:BIO routines::no such file; ...")
 * to the reason of its first entry ("...: No such file or directory"), in place, and returns
 * err->msg.  Messages without one are left as they are.  Every subcommand prints its errors
 * through ctl_print_err(), which calls it.
 */
const char *ctl_err_condense(struct mk_err *err);
/* Prints "mskpkictl CMD: MSG" (MSG through ctl_err_condense()) on stderr. */
void ctl_print_err(const char *cmd, struct mk_err *err);

/* t as RFC 3339 UTC ("2026-01-02T03:04:05Z"), the form of every time mskpkictl prints; the
 * number itself when it cannot be formatted. */
void ctl_time_rfc3339(long long t, char *buf, size_t cap);

/* --format table|json of status, cert and renew: sets *json, or prints the usage error for cmd
 * and returns CTL_EXIT_USAGE. */
int ctl_format_table_json(const char *cmd, const char *value, int *json);

/* Writes s to out escaped for XML 1.0 text and attribute values (JUnit output of audit and
 * probe); control characters XML cannot carry become '?'. */
void ctl_xml_put(FILE *out, const char *s);

#endif
