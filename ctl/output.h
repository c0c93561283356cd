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

/* Writes s to out escaped for XML 1.0 text and attribute values (JUnit output of audit and
 * probe); control characters XML cannot carry become '?'. */
void ctl_xml_put(FILE *out, const char *s);

#endif
