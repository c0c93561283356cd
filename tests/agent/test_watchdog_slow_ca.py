#!/usr/bin/env python3
"""The watchdog is fed while a rotation waits on a slow Private CA (issue 17, item 8).

Rotations run inline in the network process's loop, so its watchdog timer cannot fire while
GetCertificate is polled; under systemd (WatchdogSec=) a slow CA would get the agent killed in
the middle of an issuance.  Here the agent runs under a watchdog of 4 s (NOTIFY_SOCKET and
WATCHDOG_USEC set by this test, which plays systemd) against tests/pca/fake_pca.py answering
GetCertificate only after WatchdogSec + 30 s: every answer takes 11 s (one slow HTTP request:
only curl's progress callback can ping meanwhile) and the first two say RequestInProgress (the
polling backoff's sleeps must ping too).  Then the post-rotation hook takes 10 s, while the
network process waits for the supervisor's answer (the supervisor pings meanwhile).  The pings
must come at least every WatchdogSec from READY=1 to the end of the hook, and the issuance must
complete."""
import json
import os
import socket
import sys
import time

from agentlib import (Env, NotifyListener, aws_test_environment, check, done, start_server,
                      wait_for)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WATCHDOG_SEC = 4
aws_test_environment()


HOOK_SECONDS = 10
env = Env(validity="1d", hook=False)
fdir = os.path.join(env.tmp, "fake")
os.mkdir(fdir)
with open(os.path.join(fdir, "config.json"), "w") as f:
    json.dump({"in_progress": 2, "delay": {"GetCertificate": 11}}, f)
_, fport = start_server([sys.executable, os.path.join(SRC, "tests/pca/fake_pca.py"), "0", fdir],
                        open(os.path.join(env.tmp, "fake.log"), "w"),
                        port_file=os.path.join(fdir, "port"))
arn = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "http://127.0.0.1:%d"; poll_timeout = "10m"; }; };' % (arn, fport))
hook_log = os.path.join(env.tmp, "slow-hook.log")
env.cert_extra = ('hook = { command = "sleep %d; echo done >> %s"; shell = true; timeout = "60s"; };'
                  % (HOOK_SECONDS, hook_log))
env.write_config()

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
address = "\0mskpki-watchdog-test-%d" % os.getpid()
sock.bind(address)
listener = NotifyListener(sock)
env.extra_env = {"NOTIFY_SOCKET": "@" + address[1:],
                 "WATCHDOG_USEC": str(WATCHDOG_SEC * 1000000), "WATCHDOG_PID": ""}
agent = env.start()
wait_for(lambda: "event=hook.success name=client" in agent.text()
         or agent.proc.poll() is not None, 120, "the issuance and its hook to complete")
agent.alive_or_fail()
done_at = time.monotonic()
msgs = listener.timed()
agent.stop()

with open(os.path.join(fdir, "stats.json")) as f:
    stats = json.load(f)
times = stats["times"]
waited = times["GetCertificate"][-1] - times["IssueCertificate"][0]
check(waited >= WATCHDOG_SEC + 30, "the CA answered after %.1f s only: the test proves nothing"
      % waited)
check(len(times["GetCertificate"]) == 3, "GetCertificate calls: %r" % times["GetCertificate"])

ready = [t for t, m in msgs if m == "READY=1"]
check(ready, "no READY=1: %r" % msgs)
pings = [t for t, m in msgs if m == "WATCHDOG=1" and t >= ready[0]]
marks = [ready[0]] + pings + [done_at]
gaps = [b - a for a, b in zip(marks, marks[1:])]
worst = max(gaps)
check(worst <= WATCHDOG_SEC, "a gap of %.1f s between watchdog pings (WatchdogSec %d s): systemd "
      "would have killed the agent; gaps %r\n%s" % (worst, WATCHDOG_SEC,
                                                     [round(g, 1) for g in gaps], agent.text()))
st = env.state()
check(st is not None and st["generation"] == 1 and st["last_result"] == "success",
      "state after the slow issuance: %r" % st)
check(open(hook_log).read().strip() == "done", "the hook did not run to its end")
print("pings=%d worst_gap=%.2fs ca_wait=%.1fs" % (len(pings), worst, waited))
done("watchdog_slow_ca")
