/* state.c: state files as JSON with jansson (see state.h). */
#include "agent/state.h"
#include "issue/issue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pki/store.h"

static const char *const result_names[AGENT_RESULT__MAX] = {"none", "success", "failure"};

const char *agent_result_name(enum agent_result r)
{
    if ((int)r < 0 || r >= AGENT_RESULT__MAX) {
        return "none";
    }
    return result_names[r];
}

char *agent_state_to_json(const struct agent_status *st, struct mk_err *err)
{
    json_t *o = NULL;
    char *text = NULL;

    o = json_pack(
        "{s:i, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:I, s:I,"
        " s:s, s:I}",
        "version", AGENT_STATE_VERSION, "name", st->name, "ca", st->ca, "ready", st->ready ? 1 : 0,
        "subject", st->subject, "issuer", st->issuer, "serial", st->serial, "not_before",
        (json_int_t)st->not_before, "not_after", (json_int_t)st->not_after, "next_renewal",
        (json_int_t)st->next_renewal, "last_attempt", (json_int_t)st->last_attempt, "last_success",
        (json_int_t)st->last_success, "last_result", agent_result_name(st->last_result),
        "last_error", st->last_error[0] != '\0' ? json_string(st->last_error) : json_null(),
        "consecutive_failures", (json_int_t)st->consecutive_failures, "generation",
        (json_int_t)st->generation, "cert_path", st->cert_path, "updated", (json_int_t)st->updated);
    MK_ENSURE(o != NULL, err, MK_ERR_NOMEM, "state: cannot build JSON for %s", st->name);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    MK_ENSURE(text != NULL, err, MK_ERR_NOMEM, "state: cannot serialise JSON for %s", st->name);
out:
    json_decref(o);
    return text;
}

static int get_str(json_t *o, const char *key, char *dst, size_t size, int nullable,
                   struct mk_err *err)
{
    json_t *v = json_object_get(o, key);

    if (nullable && json_is_null(v)) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v)) {
        mk_err_set(err, MK_ERR_INVALID, "state: field '%s' must be a string", key);
        return -1;
    }
    if (json_string_length(v) >= size) {
        mk_err_set(err, MK_ERR_INVALID, "state: field '%s' is too long", key);
        return -1;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(json_t *o, const char *key, json_int_t *dst, struct mk_err *err)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        mk_err_set(err, MK_ERR_INVALID, "state: field '%s' must be a non-negative integer", key);
        return -1;
    }
    *dst = json_integer_value(v);
    return 0;
}

int agent_state_from_json(const char *text, size_t len, struct agent_status *out,
                          struct mk_err *err)
{
    struct agent_status st;
    json_error_t jerr;
    json_t *o = NULL;
    json_int_t v;
    json_t *b;
    char result[16];
    int rc = -1;

    memset(&st, 0, sizeof(st));
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    MK_ENSURE(o != NULL, err, MK_ERR_INVALID, "state: line %d: %s", jerr.line, jerr.text);
    MK_ENSURE(json_is_object(o), err, MK_ERR_INVALID, "state: not a JSON object");
    MK_GUARD(get_int(o, "version", &v, err));
    MK_ENSURE(v == AGENT_STATE_VERSION, err, MK_ERR_INVALID, "state: unsupported version %lld",
              (long long)v);
    MK_GUARD(get_str(o, "name", st.name, sizeof(st.name), 0, err));
    MK_GUARD(get_str(o, "ca", st.ca, sizeof(st.ca), 0, err));
    b = json_object_get(o, "ready");
    MK_ENSURE(json_is_boolean(b), err, MK_ERR_INVALID, "state: field 'ready' must be a boolean");
    st.ready = json_is_true(b);
    MK_GUARD(get_str(o, "subject", st.subject, sizeof(st.subject), 0, err));
    MK_GUARD(get_str(o, "issuer", st.issuer, sizeof(st.issuer), 0, err));
    MK_GUARD(get_str(o, "serial", st.serial, sizeof(st.serial), 0, err));
    MK_GUARD(get_int(o, "not_before", &v, err));
    st.not_before = (time_t)v;
    MK_GUARD(get_int(o, "not_after", &v, err));
    st.not_after = (time_t)v;
    MK_GUARD(get_int(o, "next_renewal", &v, err));
    st.next_renewal = (time_t)v;
    MK_GUARD(get_int(o, "last_attempt", &v, err));
    st.last_attempt = (time_t)v;
    MK_GUARD(get_int(o, "last_success", &v, err));
    st.last_success = (time_t)v;
    MK_GUARD(get_str(o, "last_result", result, sizeof(result), 0, err));
    st.last_result = AGENT_RESULT__MAX;
    for (int i = 0; i < AGENT_RESULT__MAX; i++) {
        if (strcmp(result, result_names[i]) == 0) {
            st.last_result = (enum agent_result)i;
        }
    }
    MK_ENSURE(st.last_result != AGENT_RESULT__MAX, err, MK_ERR_INVALID,
              "state: field 'last_result' has unknown value '%s'", result);
    MK_GUARD(get_str(o, "last_error", st.last_error, sizeof(st.last_error), 1, err));
    MK_GUARD(get_int(o, "consecutive_failures", &v, err));
    st.consecutive_failures = (unsigned long)v;
    MK_GUARD(get_int(o, "generation", &v, err));
    st.generation = (unsigned long)v;
    MK_GUARD(get_str(o, "cert_path", st.cert_path, sizeof(st.cert_path), 0, err));
    MK_GUARD(get_int(o, "updated", &v, err));
    st.updated = (time_t)v;
    *out = st;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

int agent_state_write(const char *dir, const struct agent_status *st, struct mk_err *err)
{
    char path[1024];
    char *text = NULL;
    int rc = -1;

    MK_ENSURE(issue_state_path(path, sizeof(path), dir, st->name, ".json") == 0, err,
              MK_ERR_INVALID, "state: path too long for %s", st->name);
    MK_GUARD_PTR(text = agent_state_to_json(st, err));
    MK_GUARD(pki_store_write_file(path, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1, err));
    rc = 0;
out:
    free(text);
    return rc;
}

int agent_state_read(const char *dir, const char *name, struct agent_status *out,
                     struct mk_err *err)
{
    char path[1024];
    char buf[16384];
    size_t n;
    FILE *f = NULL;
    int rc = -1;

    MK_ENSURE(issue_state_path(path, sizeof(path), dir, name, ".json") == 0, err, MK_ERR_INVALID,
              "state: path too long for %s", name);
    f = fopen(path, "re");
    if (f == NULL && errno == ENOENT) {
        mk_err_set(err, MK_ERR_NOTFOUND, "state: %s: no such file", path);
        goto out;
    }
    MK_ENSURE_ERRNO(f != NULL, err, MK_ERR_IO, "state: open %s", path);
    n = fread(buf, 1, sizeof(buf), f);
    MK_ENSURE_ERRNO(!ferror(f), err, MK_ERR_IO, "state: read %s", path);
    MK_ENSURE(n < sizeof(buf), err, MK_ERR_INVALID, "state: %s: file too large", path);
    if (agent_state_from_json(buf, n, out, err) != 0) {
        mk_err_prefix(err, "%s", path);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}
