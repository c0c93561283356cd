/*
 * hostile.h: a "hostile network process" for tests (compiled only with MK_TESTING).
 *
 * Issue 16's review played a compromised network process: a debugger attached to
 * mskpki-netproc, making calls from inside it.  In test builds, MSKPKI_TEST_HOSTILE names
 * attacks ("all" for every one, or a comma-separated list) that the network process replays
 * after its first loop pass, through the real link to the key process (and, for attacks on the
 * sandbox, the real filesystem).  Each attack logs one line
 *
 *     event=hostile attack=<name> result=refused|accepted code=<mk_code> reason=<reason> msg=...
 *
 * and a refusal by the key process's policy counts in mskpki_keyproc_refusals_total like a
 * refusal in a rotation.  The last line is event=hostile.done attacks=<n>.
 * tests/agent/test_hostile.py runs each attack and checks that nothing of value changed.
 *
 * To add an attack: one function and one row in the table in hostile.c (and its row in
 * docs/design.md's threat model).
 */
#ifndef AGENT_HOSTILE_H
#define AGENT_HOSTILE_H

#ifdef MK_TESTING

#include "agent/iterate.h"

/* Runs the attacks named in spec (NULL or "" runs none) against the first certificate block of
 * ctx->cfg.  Never fails: each attack's outcome is its log line. */
void agent_hostile_run(struct agent_ctx *ctx, const char *spec);

#endif

#endif
