#!/usr/bin/env python3
"""SIGTERM stops the agent cleanly *after* the rotation in flight (issue 4, Signals).

tests/pca/fake_pca.py keeps GetCertificate "in progress", so the agent's first issuance is
provably under way (IssueCertificate sent, GetCertificate being polled) when SIGTERM arrives.
The agent must keep polling, finish the rotation once the CA delivers (generation written, hook
run, pending records gone, exactly one IssueCertificate), and only then exit 0.  An agent that
stopped at the signal would leave the issuance pending and never log rotation.success.  No
timing margin: each step waits for an observable event (a request counted by the fake)."""
import json
import os
import signal
import sys

from agentlib import Env, aws_test_environment, check, done, free_port, start_server, wait_for

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
aws_test_environment()

env = Env(validity="1d", hook=True)
fport = free_port()
fdir = os.path.join(env.tmp, "fake")
os.mkdir(fdir)
fconf = os.path.join(fdir, "config.json")


def fake_config(cfg):
    tmp = fconf + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.rename(tmp, fconf)  # the fake re-reads it on every request: never a torn file


def calls(op):
    try:
        with open(os.path.join(fdir, "stats.json")) as f:
            return json.load(f)["calls"].get(op, 0)
    except (OSError, ValueError, KeyError):
        return 0


fake_config({"in_progress": -1})
start_server([sys.executable, os.path.join(SRC, "tests/pca/fake_pca.py"), str(fport), fdir],
             fport, open(os.path.join(env.tmp, "fake.log"), "w"))
arn = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
# A poll timeout far beyond the test: the rotation ends because the CA answers, not by giving up.
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "http://127.0.0.1:%d"; poll_timeout = "10m"; }; };' % (arn, fport))
env.write_config()
agent = env.start()

# The issuance is in flight: issued, and the certificate polled at least once.
wait_for(lambda: calls("IssueCertificate") == 1 and calls("GetCertificate") >= 1, 60,
         "the issuance to be in flight")
polled = calls("GetCertificate")
agent.signal(signal.SIGTERM)
# Still working after the signal: it polls again (the fake counts it) and has not exited.
wait_for(lambda: calls("GetCertificate") > polled + 1, 60, "a poll after SIGTERM")
check(agent.proc.poll() is None, "the agent exited mid-rotation: %s\n%s"
      % (agent.proc.returncode, agent.text()))
check(env.state() is None or env.state().get("generation", 0) == 0,
      "a generation before the CA delivered: %r" % env.state())

# The CA delivers (a new fake config answers GetCertificate): the rotation completes, then exit.
fake_config({})
rc = agent.proc.wait(timeout=120)
log = agent.text()
check(rc == 0, "exit status %d after SIGTERM during a rotation:\n%s" % (rc, log))
check("event=rotation.success name=client" in log, "the rotation in flight was dropped:\n" + log)
check(log.index("event=rotation.success") < log.index("event=agent.stopped"),
      "stopped before the rotation finished:\n" + log)
check("event=signal.stop signal=TERM" in log, "SIGTERM not seen:\n" + log)
st = env.state()
check(st["generation"] == 1 and st["ready"] is True and st["last_result"] == "success",
      "state after the stop: %r" % st)
check(calls("IssueCertificate") == 0, "a second IssueCertificate after the config reset")
check(not os.path.exists(env.out("client", ".pending-client.key")), "pending key left behind")
check(not os.path.exists(env.out("client", ".pending-client.key.csr")), "pending CSR left behind")
for suffix in (".pending.csr", ".pending.json"):
    check(not os.path.exists(os.path.join(env.state_dir, "client" + suffix)),
          "%s left behind" % suffix)
check(os.path.exists(env.hook_log) and len(open(env.hook_log).read().splitlines()) == 1,
      "the hook of the finished rotation did not run")
done("stop")
