/*
 * status_int.h: the state-file reader of `mskpkictl status`, visible to tests/test_status.c.
 * The schema is the agent's (agent/state.h, version 1); see docs/probe.md.
 */
#ifndef CTL_STATUS_INT_H
#define CTL_STATUS_INT_H

#include <stddef.h>

#include "pki/err.h"

/* Verdict per certificate, from fine to worst. */
enum status_kind {
    STATUS_OK,
    STATUS_EXPIRING,
    STATUS_EXPIRED,
    STATUS_NOT_READY,
    STATUS_MISSING,
    STATUS_MALFORMED,
    STATUS_UNREADABLE,
    STATUS__MAX
};

/* One parsed state file (schema version 1). */
struct status_state {
    char name[128];
    char ca[32];
    int ready;
    char subject[512];
    char issuer[512];
    char serial[128];
    long long not_before, not_after, next_renewal, last_attempt, last_success;
    char last_result[16];
    char last_error[768];
    int has_last_error;
    long long consecutive_failures, generation;
    char cert_path[1024];
    long long updated;
};

#ifdef MK_TESTING
/* Strict parse of a state file's text; errors name path and field (MK_ERR_INVALID). */
int ctl_status_parse_state(const char *path, const char *text, size_t len, const char *expect_name,
                           struct status_state *out, struct mk_err *err);
/* ok / expiring (within warn_days) / expired / not_ready for a parsed state at time now. */
enum status_kind ctl_status_judge(const struct status_state *st, long long now, long warn_days);
/* When not 0, the time `status` judges and prints against (the golden-output tests). */
extern long long ctl_status_test_now;
#endif

#endif
