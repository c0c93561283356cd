/*
 * log.h: one line per event, key=value fields, to stderr (journald) or syslog.
 *
 *     mk_log(MK_LOG_INFO, "rotation.success", "name=%s serial=%s", name, serial);
 * prints
 *     level=info event=rotation.success name=client serial=0A1B...
 *
 * Never pass key material, passphrases or AWS secrets: logs leave the host.
 */
#ifndef MK_LOG_H
#define MK_LOG_H

#include "pki/err.h"

enum mk_log_level { MK_LOG_DEBUG, MK_LOG_INFO, MK_LOG_WARN, MK_LOG_ERROR, MK_LOG__MAX };
enum mk_log_target { MK_LOG_STDERR, MK_LOG_SYSLOG };

/* Sets the minimum level and the target; ident is the syslog identity.  Not thread-safe. */
void mk_log_setup(enum mk_log_level min, enum mk_log_target target, const char *ident);

/* With on, warn and error lines also go to stderr when the target is syslog: start-up failures
 * and one-shot runs (--once) must reach the terminal whatever log.target says.  Inherited across
 * fork.  Not thread-safe (set it before threads start or from the only logging thread). */
void mk_log_echo(int on);

/* Parses "debug", "info", "warn", "error".  Returns 0, or -1 for an unknown name. */
int mk_log_level_parse(const char *name, enum mk_log_level *out) MK_MUST_CHECK;
const char *mk_log_level_name(enum mk_log_level level);

/* Logs one event; fields is a printf format for "key=value key=value" (may be NULL). */
void mk_log(enum mk_log_level level, const char *event, const char *fields, ...) MK_PRINTF(3, 4);

/* Copies text into out (size > 0, truncated) fit to stand inside a quoted field ("..."). */
void mk_log_quotable(char *out, size_t size, const char *text);

/* Logs an error event with err's code and message as the fields code= and msg="...". */
void mk_log_err(const char *event, const struct mk_err *err);

#endif
