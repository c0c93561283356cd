/*
 * state.h: the per-certificate state file <state_dir>/<name>.json that `mskpkictl status` reads.
 *
 * Schema (version 1, keep EXACTLY; docs/agent.md):
 *   {"version":1, "name":str, "ca":"local"|"aws-pca", "ready":bool, "subject":str, "issuer":str,
 *    "serial":str, "not_before":int, "not_after":int, "next_renewal":int, "last_attempt":int,
 *    "last_success":int, "last_result":"success"|"failure"|"none", "last_error":str|null,
 *    "consecutive_failures":int, "generation":int, "cert_path":str, "updated":int}
 * Times are unix seconds, 0 when never/unknown; subject/issuer/serial are "" without a
 * certificate.  Written atomically with pki_store_write_file(), mode 0644: it holds no secret.
 */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H

#include <stddef.h>
#include <time.h>

#include "pki/err.h"

#define AGENT_STATE_VERSION 1

enum agent_result {
    AGENT_RESULT_NONE,
    AGENT_RESULT_SUCCESS,
    AGENT_RESULT_FAILURE,
    AGENT_RESULT__MAX
};

/* "none", "success", "failure". */
const char *agent_result_name(enum agent_result r);

struct agent_status {
    char name[128];
    char ca[16];
    int ready;
    char subject[512];
    char issuer[512];
    char serial[80];
    time_t not_before;
    time_t not_after;
    time_t next_renewal;
    time_t last_attempt;
    time_t last_success;
    enum agent_result last_result;
    char last_error[768]; /* "" is written as null */
    unsigned long consecutive_failures;
    unsigned long generation;
    char cert_path[1024];
    time_t updated;
};

/* JSON text of st, NUL-terminated.  Caller frees with free(). */
char *agent_state_to_json(const struct agent_status *st, struct mk_err *err) MK_MUST_CHECK;

/* Parses a state file's text; unknown keys are ignored, a wrong version or type is
 * MK_ERR_INVALID naming the field.  *out is written only on success. */
int agent_state_from_json(const char *text, size_t len, struct agent_status *out,
                          struct mk_err *err) MK_MUST_CHECK;

/* Writes <dir>/<st->name>.json atomically, 0644. */
int agent_state_write(const char *dir, const struct agent_status *st,
                      struct mk_err *err) MK_MUST_CHECK;

/* Reads <dir>/<name>.json.  Missing file: -1 with MK_ERR_NOTFOUND. */
int agent_state_read(const char *dir, const char *name, struct agent_status *out,
                     struct mk_err *err) MK_MUST_CHECK;

#endif
