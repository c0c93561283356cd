#!/usr/bin/env python3
"""One AWS Private CA fault against a running agent (aws-pca backend, endpoint override).

Usage: test_pca_faults.py AGENT FAULT   (FAULT: one of FAULTS below)

The agent first gets a certificate from tests/pca/fake_pca.py; then the fake is switched to the
fault and a renewal forced (SIGUSR1).  While the fault lasts: every output file and link stays
byte-identical, the state still names generation 1 and is ready, rotations_total{failure},
rotation_consecutive_failures and ca_requests_total{code} move, the retries back off (the
logged retry_in never shrinks and grows; the gap between the last two failed attempts is longer
than between the first two), and no certificate for another key, CA or time is ever written.
Then the fake turns healthy and the agent recovers on its own (generation 2, key matches)."""
import os
import re
import signal
import sys
import time

from rellib import FakePca, check, check_pair, snapshot
from agentlib import Env, aws_test_environment, done, wait_for

aws_test_environment()

# fault -> (fake config, ca_requests_total code that must move, the CA keeps the ARN's answer)
FAULTS = {
    "throttle": ({"status": {"IssueCertificate": [429, "ThrottlingException", -1]}},
                 "ThrottlingException", False),
    "http500": ({"status": {"IssueCertificate": [500, "InternalFailure", -1]}},
                "InternalFailure", False),
    "http503": ({"status": {"IssueCertificate": [503, "ServiceUnavailable", -1]}},
                "ServiceUnavailable", False),
    "in_progress": ({"in_progress": -1}, "RequestInProgressException", False),
    "malformed": ({"body": {"IssueCertificate": "malformed"}}, "invalid", False),
    "truncated": ({"body": {"GetCertificate": "truncated"}}, "invalid", False),
    "cut": ({"body": {"IssueCertificate": "cut"}}, "network", False),
    "empty": ({"body": {"IssueCertificate": "empty"}}, "ok", False),
    "slow": ({"delay": {"IssueCertificate": 6}}, "timeout", False),
    "wrong_key": ({"bad_issue": "wrong_key"}, "ok", True),
    "expired": ({"bad_issue": "expired"}, "ok", True),
    "other_ca": ({"bad_issue": "other_ca"}, "ok", True),
    "bad_chain": ({"bad_issue": "bad_chain"}, "ok", True),
}
if len(sys.argv) != 3 or sys.argv[2] not in FAULTS:
    sys.exit("usage: test_pca_faults.py AGENT FAULT (%s)" % ", ".join(FAULTS))
FAULT = sys.argv[2]
config, code, sticky = FAULTS[FAULT]
ATTEMPTS = 4

env = Env(validity="1d", retry_min="1s", retry_max="8s", hook=False)
fake = FakePca(env.tmp)
env.ca_block = fake.ca_block('poll_timeout = "2s"; rate_per_second = 50.0; burst = 50;')
env.write_config()
out_dir = os.path.join(env.tmp, "out", "client")
# The key process keeps the pending key and CSR beside the outputs, out of the network process's
# reach (docs/agent.md); they are no outputs, so the snapshots below leave them out.
pending_key = os.path.join(out_dir, ".pending-client.key")
pending_csr = pending_key + ".csr"


def outputs():
    s = snapshot(out_dir)
    s.pop(os.path.basename(pending_key), None)
    s.pop(os.path.basename(pending_csr), None)
    return s


agent = env.start()
wait_for(lambda: (env.state() or {}).get("generation") == 1, 60, "the first certificate")
before = outputs()
check_pair(out_dir)


def m(name, labels=None):
    labels = dict(labels or {})
    if name == "mskpki_ca_requests_total":
        labels["ca"] = "aws-pca"
    else:
        labels["name"] = "client"
    return env.metric(name, labels) or 0


codes_before = m("mskpki_ca_requests_total", {"code": code})
fail_before = m("mskpki_rotations_total", {"result": "failure"})

fake.set(config)
agent.signal(signal.SIGUSR1)
# The moment each failed attempt is seen (to 0.1 s): the gaps must grow with the backoff.
seen = []
deadline = time.monotonic() + 150
while len(seen) < ATTEMPTS:
    n = m("mskpki_rotations_total", {"result": "failure"}) - fail_before
    while len(seen) < n:
        seen.append(time.monotonic())
    check(time.monotonic() < deadline, "only %d failed attempts under %s; log:\n%s"
          % (len(seen), FAULT, agent.text()[-4000:]))
    agent.alive_or_fail()
    time.sleep(0.1)

# The old generation is untouched while the fault lasts.
check(outputs() == before, "the outputs changed under fault %s" % FAULT)
check(not os.path.exists(pending_key) or os.stat(pending_key).st_mode & 0o777 == 0o600,
      "the pending key is not 0600")
check_pair(out_dir)
st = env.state()
check(st["generation"] == 1 and st["ready"] is True and st["last_result"] == "failure" and
      st["last_error"], "state under fault %s: %r" % (FAULT, st))
check(m("mskpki_rotation_consecutive_failures") >= ATTEMPTS, "consecutive failures did not rise")
check(m("mskpki_ca_requests_total", {"code": code}) > codes_before,
      "ca_requests_total{code=%s} did not move" % code)
check(m("mskpki_certificate_ready") == 1, "not ready while the old certificate is valid")
log = agent.text()
retry_in = [int(x) for x in re.findall(r"event=rotation.failure name=client .*?retry_in=(\d+)",
                                       log)][:ATTEMPTS]
check(len(retry_in) == ATTEMPTS and all(b >= a for a, b in zip(retry_in, retry_in[1:])) and
      retry_in[-1] > retry_in[0], "retry_in does not back off: %r" % retry_in)
gaps = [b - a for a, b in zip(seen, seen[1:])]
check(gaps[-1] > gaps[0], "attempts did not spread out: gaps %r" % gaps)
if sticky:
    # An unusable certificate is never resumed: its pending record goes with it.
    check(not os.path.exists(pending_key) and not os.path.exists(pending_csr),
          "the pending issuance of an unusable certificate stayed")

# The CA heals: the agent recovers on its own retry schedule.
issues_before = fake.stats()["calls"].get("IssueCertificate", 0)
fake.set({})
st = wait_for(lambda: (env.state() or {}).get("generation") == 2 and env.state(), 60,
              "recovery after %s" % FAULT)
check(st["ready"] is True and st["consecutive_failures"] == 0 and st["last_error"] is None,
      "state after recovery: %r" % st)
check(m("mskpki_rotation_consecutive_failures") == 0, "consecutive failures not reset")
check_pair(out_dir)
check(outputs() != before, "no new generation written")
check(not os.path.exists(pending_key) and not os.path.exists(pending_csr),
      "pending key or CSR left after recovery")
issues = fake.stats()["calls"].get("IssueCertificate", 0)
if FAULT in ("in_progress", "truncated"):
    # The certificate was issued during the fault; recovery fetches it, paying nothing more.
    check(issues == 0, "recovery issued again (%d IssueCertificate calls)" % issues)
    check("event=rotation.resume" in agent.text(), "no resume after %s" % FAULT)
agent.stop()
done("pca_fault_" + FAULT)
