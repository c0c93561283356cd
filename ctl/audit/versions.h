/*
 * versions.h: Amazon MSK's Kafka version lines and their published end-of-support dates, and the
 * audit's date arithmetic (--as-of).  Pure: no I/O, no allocation.
 *
 * MSK names versions "3.7.x", "3.7.x.kraft", "2.8.2.tiered", "4.0.x.kraft", "3.4.0", "2.4.1.1";
 * each belongs to the line of its first two components ("3.7"), and a line's end of support
 * applies to every version of it (ZooKeeper, KRaft and tiered alike).  The table in versions.c
 * cites its source and the date it was last checked.
 */
#ifndef CTL_AUDIT_VERSIONS_H
#define CTL_AUDIT_VERSIONS_H

#include <stddef.h>
#include <time.h>

#include "pki/err.h"

#define AUDIT_DAY_S 86400L
#define AUDIT_DEFAULT_EOS_WARNING_DAYS 90

/* The line ("3.7") of an MSK version string into buf.  Returns 0, or -1 when v does not start
 * with two numeric components. */
int audit_kafka_line(const char *v, char *buf, size_t len) MK_MUST_CHECK;

/* The published end of support of v's line: 1 with *eos (00:00 UTC of that date) and *date
 * ("YYYY-MM-DD", static), 0 when none is published (or the line is unknown), -1 when v has no
 * line. */
int audit_kafka_eos(const char *v, time_t *eos, const char **date) MK_MUST_CHECK;

/* The version to upgrade v to: the newest line without a published end of support in v's
 * metadata mode (MSK cannot move a cluster between ZooKeeper and KRaft in place).  Static. */
const char *audit_kafka_target(const char *v);

/* The date the version table was last checked against its source ("YYYY-MM-DD"). */
const char *audit_kafka_table_checked(void);

/* Parses a strict "YYYY-MM-DD" (a real calendar date) into 00:00 UTC of that day.  Returns 0 or
 * -1. */
int audit_date_parse(const char *s, time_t *out) MK_MUST_CHECK;

/* Whole days from now to when, rounded towards minus infinity (negative once past). */
long audit_days_between(time_t now, time_t when);

#endif
