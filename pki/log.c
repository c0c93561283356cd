/* log.c: key=value event lines to stderr or syslog; safe to call from several threads. */
#include "pki/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum mk_log_level log_min = MK_LOG_INFO;
static enum mk_log_target log_target = MK_LOG_STDERR;
static int log_echo;

static const char *const level_names[MK_LOG__MAX] = {"debug", "info", "warn", "error"};

void mk_log_setup(enum mk_log_level min, enum mk_log_target target, const char *ident)
{
    log_min = min;
    log_target = target;
    if (target == MK_LOG_SYSLOG) {
        openlog(ident, LOG_PID, LOG_DAEMON);
    }
}

void mk_log_echo(int on)
{
    log_echo = on;
}

int mk_log_level_parse(const char *name, enum mk_log_level *out)
{
    for (int i = 0; i < MK_LOG__MAX; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum mk_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *mk_log_level_name(enum mk_log_level level)
{
    if ((int)level < 0 || level >= MK_LOG__MAX) {
        return "unknown";
    }
    return level_names[level];
}

static int syslog_priority(enum mk_log_level level)
{
    switch (level) {
    case MK_LOG_DEBUG:
        return LOG_DEBUG;
    case MK_LOG_INFO:
        return LOG_INFO;
    case MK_LOG_WARN:
        return LOG_WARNING;
    default:
        return LOG_ERR;
    }
}

static void log_line(enum mk_log_level level, const char *event, const char *fields)
{
    const char *sep = (fields != NULL && fields[0] != '\0') ? " " : "";
    if (fields == NULL) {
        fields = "";
    }
    if (log_target == MK_LOG_SYSLOG) {
        syslog(syslog_priority(level), "level=%s event=%s%s%s", level_names[level], event, sep,
               fields);
        if (!log_echo || level < MK_LOG_WARN) {
            return;
        }
    }
    /* One fprintf per line so that concurrent threads do not interleave within a line. */
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "ts=%s level=%s event=%s%s%s\n", stamp, level_names[level], event, sep, fields);
}

void mk_log(enum mk_log_level level, const char *event, const char *fields, ...)
{
    char buf[2048];
    va_list ap;

    if (level < log_min) {
        return;
    }
    buf[0] = '\0';
    if (fields != NULL) {
        va_start(ap, fields);
        vsnprintf(buf, sizeof(buf), fields, ap);
        va_end(ap);
    }
    log_line(level, event, buf);
}

void mk_log_quotable(char *out, size_t size, const char *text)
{
    size_t j = 0;

    /* Quotes inside a quoted value would break key=value parsing; replace them. */
    for (size_t i = 0; text[i] != '\0' && j + 1 < size; i++) {
        out[j++] = text[i] == '"' ? '\'' : text[i];
    }
    out[j] = '\0';
}

void mk_log_err(const char *event, const struct mk_err *err)
{
    char msg[sizeof(err->msg)];

    mk_log_quotable(msg, sizeof(msg), err->msg);
    if (err->ext_code[0] != '\0') {
        mk_log(MK_LOG_ERROR, event, "code=%s aws_code=%s msg=\"%s\"", mk_code_str(err->code),
               err->ext_code, msg);
    } else {
        mk_log(MK_LOG_ERROR, event, "code=%s msg=\"%s\"", mk_code_str(err->code), msg);
    }
}
