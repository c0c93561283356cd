/* control.c: the control socket's client (see control.h). */
#include "issue/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* An answer larger than this is not one of ours (status of a large fleet host stays far below). */
#define CONTROL_MAX_REPLY (16 * 1024 * 1024)

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to the first newline or EOF.  Returns the NUL-terminated text (caller frees), or NULL
 * with err set. */
static char *read_line(int fd, const char *path, struct mk_err *err)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (buf == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "control: out of memory");
        return NULL;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = cap < CONTROL_MAX_REPLY ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                mk_err_set(err, MK_ERR_INVALID, "%s: answer too large", path);
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            mk_err_errno(err, MK_ERR_IO, "%s: read", path);
            free(buf);
            return NULL;
        }
        if (n == 0 || memchr(buf + len, '\n', (size_t)n) != NULL) {
            len += (size_t)n;
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
}

static enum mk_code code_of(const char *code)
{
    if (code == NULL) {
        return MK_ERR_STATE;
    }
    if (strcmp(code, "not_found") == 0) {
        return MK_ERR_NOTFOUND;
    }
    if (strcmp(code, "denied") == 0) {
        return MK_ERR_PERM;
    }
    /* "in_use": the caller must choose --replace or --force. */
    if (strcmp(code, "usage") == 0 || strcmp(code, "in_use") == 0) {
        return MK_ERR_USAGE;
    }
    return MK_ERR_STATE;
}

int issue_control_call(const char *path, const char *state_dir, json_t *req, json_t **reply,
                       struct mk_err *err)
{
    struct sockaddr_un sa;
    json_error_t jerr;
    json_t *ans = NULL;
    char *text = NULL;
    char *line = NULL;
    const char *code;
    int fd = -1;
    int rc = -1;

    if (path == NULL || path[0] == '\0') {
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    MK_ENSURE(strlen(path) < sizeof(sa.sun_path), err, MK_ERR_INVALID,
              "control.socket %s: path too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    MK_ENSURE_ERRNO(fd >= 0, err, MK_ERR_IO, "control: socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR) {
            rc = 1;
            goto out;
        }
        mk_err_errno(err, errno == EACCES || errno == EPERM ? MK_ERR_PERM : MK_ERR_IO,
                     "%s: connect (the control socket is for root and the agent's group)", path);
        goto out;
    }
    MK_ENSURE(json_object_set_new(req, "state_dir", json_string(state_dir)) == 0, err,
              MK_ERR_NOMEM, "control: out of memory");
    text = json_dumps(req, JSON_COMPACT);
    MK_ENSURE(text != NULL, err, MK_ERR_NOMEM, "control: out of memory");
    /* An agent that refuses the caller answers before it reads: a failed send still has an
     * answer to read. */
    if (send_all(fd, text, strlen(text)) != 0 || send_all(fd, "\n", 1) != 0) {
        mk_err_errno(err, MK_ERR_IO, "%s: send", path);
        line = read_line(fd, path, err);
        MK_ENSURE(line != NULL && line[0] != '\0', err, MK_ERR_IO, "%s: send: %s", path,
                  strerror(EPIPE));
    } else {
        MK_GUARD_PTR(line = read_line(fd, path, err));
    }
    MK_ENSURE(line[0] != '\0', err, MK_ERR_IO,
              "%s: the agent closed the connection without an answer (did it stop?)", path);
    ans = json_loads(line, 0, &jerr);
    MK_ENSURE(json_is_object(ans) && json_is_boolean(json_object_get(ans, "ok")), err,
              MK_ERR_INVALID, "%s: not an answer of mskpki-agent: %s", path,
              ans == NULL ? jerr.text : "no \"ok\"");
    if (!json_is_true(json_object_get(ans, "ok"))) {
        code = json_string_value(json_object_get(ans, "code"));
        if (code != NULL && strcmp(code, "other_agent") == 0) {
            rc = 1;
            goto out;
        }
        mk_err_set(err, code_of(code), "%s",
                   json_string_value(json_object_get(ans, "error")) != NULL
                       ? json_string_value(json_object_get(ans, "error"))
                       : "the agent refused the request");
        goto out;
    }
    *reply = ans;
    ans = NULL;
    rc = 0;
out:
    json_decref(ans);
    free(line);
    free(text);
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}
