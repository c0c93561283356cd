/* notify.c: sd_notify datagrams to $NOTIFY_SOCKET (see notify.h). */
#include "agent/notify.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pki/text.h"

int agent_notify(const char *msg, struct mk_err *err)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t plen;
    int fd = -1;
    int rc = -1;

    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    plen = strlen(path);
    MK_ENSURE((path[0] == '/' || path[0] == '@') && plen < sizeof(sa.sun_path), err, MK_ERR_IO,
              "notify: NOTIFY_SOCKET is not an absolute or abstract socket name");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0'; /* abstract namespace: leading NUL, no terminator */
    }
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    /* MSG_DONTWAIT: a receiver that stopped reading fills its queue (net.unix.max_dgram_qlen);
     * a lost notification is better than a daemon blocked in sendto(). */
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "notify: socket");
    MK_ENSURE_ERRNO(sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
                           (struct sockaddr *)&sa, salen) >= 0,
                    err, MK_ERR_IO, "notify: sendto %s", path);
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

void agent_notify_status(const char *fmt, ...)
{
    char line[512];
    char msg[sizeof(line) + 8];
    struct mk_err err;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p != '\0'; p++) {
        if (*p == '\n') {
            *p = ' ';
        }
    }
    snprintf(msg, sizeof(msg), "STATUS=%s", line);
    if (agent_notify(msg, &err) != 0) {
        return; /* advisory: systemd may be gone while we stop */
    }
}

unsigned long long agent_notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    unsigned long long v;
    char *end = NULL;

    if (usec == NULL || usec[0] == '\0') {
        return 0;
    }
    if (pid != NULL && pid[0] != '\0') {
        long p;
        if (mk_parse_long(pid, 1, LONG_MAX, &p) != 0 || p != (long)getpid()) {
            return 0;
        }
    }
    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    return v;
}
