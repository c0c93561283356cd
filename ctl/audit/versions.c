/* versions.c: MSK Kafka version lines and end-of-support dates (see versions.h). */
#include "ctl/audit/versions.h"

#include <stdio.h>
#include <string.h>

/*
 * End of support per Kafka line, as AWS publishes it in the Amazon MSK Developer Guide,
 * "Supported Apache Kafka versions" (docs.aws.amazon.com/msk/latest/developerguide/
 * supported-kafka-versions.html) and "Amazon MSK version support" (version-support.html),
 * summarised at endoflife.date/amazon-msk.  Last checked: TABLE_CHECKED.  After the date AWS may
 * upgrade a cluster to the recommended version at any time without notice, and new clusters of
 * the line are phased out ("Amazon MSK version support policy").  A line missing here has no
 * published end of support (3.8, 3.9, 4.0 and 4.1 at the last check); ListKafkaVersions'
 * DEPRECATED status covers what the table has not caught up with.
 *
 * At the last check endoflife.date listed, as the table below has them: 3.7 2026-09-01,
 * 3.6 2026-06-01, 3.5 2025-10-23, 3.4 2025-08-04, 3.1/3.2/3.3 2024-09-11, 2.8 (latest
 * 2.8.2-tiered) 2025-01-14, 2.6/2.7 2024-09-11.  For the lines before 2.6 (1.1.1, 2.1.0, 2.2.1,
 * 2.3.1, 2.4.1, 2.4.1.1, 2.5.1) only 2.5.1's date (2024-06-08) was found; the older ones ended
 * no later ("older versions earlier"), so they carry 2.5.1's date: an upper bound that is exact
 * for every audit date after 2024-06-08, and errs only for an --as-of before it.
 */
#define TABLE_CHECKED "2026-12-06"

static const struct {
    unsigned major, minor;
    const char *eos;
} lines[] = {
    {1, 1, "2024-06-08"}, {2, 1, "2024-06-08"}, {2, 2, "2024-06-08"}, {2, 3, "2024-06-08"},
    {2, 4, "2024-06-08"}, {2, 5, "2024-06-08"}, {2, 6, "2024-09-11"}, {2, 7, "2024-09-11"},
    {2, 8, "2025-01-14"}, {3, 1, "2024-09-11"}, {3, 2, "2024-09-11"}, {3, 3, "2024-09-11"},
    {3, 4, "2025-08-04"}, {3, 5, "2025-10-23"}, {3, 6, "2026-06-01"}, {3, 7, "2026-09-01"},
};

/* The upgrade targets: the newest lines without a published end of support.  4.x runs KRaft
 * only, and MSK moves no cluster from ZooKeeper to KRaft in place, so a ZooKeeper cluster's
 * target is the newest line that still offers ZooKeeper. */
#define TARGET_ZOOKEEPER "3.9.x"
#define TARGET_KRAFT "4.1.x.kraft"

const char *audit_kafka_table_checked(void)
{
    return TABLE_CHECKED;
}

/* One numeric component at *p (followed by '.' or the end): 0 with *val, or -1. */
static int component(const char **p, unsigned *val)
{
    unsigned v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9') {
        return -1;
    }
    while (*s >= '0' && *s <= '9') {
        if (v > 100000) {
            return -1;
        }
        v = v * 10 + (unsigned)(*s - '0');
        s++;
    }
    if (*s != '.' && *s != '\0') {
        return -1;
    }
    *val = v;
    *p = *s == '.' ? s + 1 : s;
    return 0;
}

static int line_of(const char *v, unsigned *major, unsigned *minor)
{
    const char *p = v;
    if (v == NULL || component(&p, major) != 0 || component(&p, minor) != 0) {
        return -1;
    }
    return 0;
}

int audit_kafka_line(const char *v, char *buf, size_t len)
{
    unsigned major, minor;
    if (line_of(v, &major, &minor) != 0) {
        return -1;
    }
    snprintf(buf, len, "%u.%u", major, minor);
    return 0;
}

int audit_kafka_eos(const char *v, time_t *eos, const char **date)
{
    unsigned major, minor;
    if (line_of(v, &major, &minor) != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i].major == major && lines[i].minor == minor) {
            if (audit_date_parse(lines[i].eos, eos) != 0) {
                return -1; /* the table is wrong: test_audit_checks catches it */
            }
            *date = lines[i].eos;
            return 1;
        }
    }
    return 0;
}

const char *audit_kafka_target(const char *v)
{
    size_t l = v != NULL ? strlen(v) : 0;
    unsigned major = 0, minor = 0;
    if (l >= 6 && strcmp(v + l - 6, ".kraft") == 0) {
        return TARGET_KRAFT;
    }
    if (line_of(v, &major, &minor) == 0 && major >= 4) {
        return TARGET_KRAFT;
    }
    return TARGET_ZOOKEEPER;
}

int audit_date_parse(const char *s, time_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    int leap;
    struct tm tm = {0};
    time_t t;
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap)) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    *out = t;
    return 0;
}

long audit_days_between(time_t now, time_t when)
{
    long long diff = (long long)when - (long long)now;
    long long days = diff / AUDIT_DAY_S;
    if (diff < 0 && diff % AUDIT_DAY_S != 0) {
        days--;
    }
    return (long)days;
}
