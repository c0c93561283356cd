#!/usr/bin/env python3
"""Clock faults, with libfaketime (Debian package faketime) preloaded into the agent.

Usage: test_clock_faults.py AGENT

(1) Clock before notBefore (-2 days: before the certificate and the local CA exist): --once
    fails (exit 1), nothing is written (the CA's answer does not verify at that time), the
    state says not ready; back on the real clock the old pair is still there and valid.
(2) Clock after notAfter (+2 hours, validity 1 hour): the certificate is expired, so --once
    rotates and writes a pair valid at that time; back on the real clock that pair is not yet
    valid, and --once replaces it with one valid now.  The pair always matches.
(3) A jump forward while the daemon sleeps.  The agent sleeps on a timerfd armed at an absolute
    CLOCK_REALTIME deadline with TFD_TIMER_CANCEL_ON_SET: when the host clock is set, the kernel
    cancels the timer (read() fails with ECANCELED) and the agent re-plans from the new time.
    A test cannot set the host clock, and a libfaketime jump does not reach the kernel's timer,
    so: the daemon runs under libfaketime with its offset in a file; the offset jumps past the
    certificate's notAfter; the daemon keeps sleeping (no wake-up, no rotation: this is the
    sleep-past-expiry the cancel exists for); then SIGUSR2, which test builds route to the same
    clock_changed() as ECANCELED, and the daemon rotates at once.  Proven: the re-plan on a
    cancel.  Not proven here: that the kernel delivers ECANCELED (timerfd_create(2)).
(4) A clock set between a read and the re-arm: timerfd_settime() itself fails with ECANCELED
    (test builds: MSKPKI_TEST_TIMER_CANCELED=N for the first N re-arms).  The agent logs
    clock.changed, arms again and keeps running; it used to exit with agent.timer_failed."""
import os
import signal
import subprocess
import time

from rellib import check, check_pair, snapshot
from agentlib import AGENT, Env, done, faketime_env, wait_for


faked = faketime_env


def once(env, extra=None):
    r = subprocess.run([AGENT, "--config", env.conf, "--once"], env=env.env(extra),
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


# ---- (1) before notBefore ------------------------------------------------------------------
env = Env(validity="1h", hook=False)
out = os.path.join(env.tmp, "out", "client")
rc, err = once(env)
check(rc == 0, "first --once: %d\n%s" % (rc, err))
before = snapshot(out)
rc, err = once(env, faked("-2d"))
check(rc == 1, "--once two days in the past exited %d:\n%s" % (rc, err))
check("event=rotation.failure" in err, "no rotation failure logged in the past:\n" + err)
check(snapshot(out) == before, "the outputs changed with the clock before notBefore")
st = env.state()
check(st["ready"] is False and st["last_result"] == "failure", "state in the past: %r" % st)
rc, err = once(env)
check(rc == 0 and "attempted=0" in err, "back on time, --once should find nothing due:\n" + err)
check(snapshot(out) == before, "the outputs changed back on time")
check_pair(out)

# ---- (2) after notAfter --------------------------------------------------------------------
rc, err = once(env, faked("+2h"))
check(rc == 0, "--once two hours ahead (expired) exited %d:\n%s" % (rc, err))
check(env.state()["generation"] == 2, "no rotation of the expired pair")
check_pair(out)
rc, err = once(env)
check(rc == 0, "back on time after a future pair: %d\n%s" % (rc, err))
st = env.state()
check(st["generation"] == 3 and st["ready"] is True and st["not_before"] <= time.time(),
      "the not-yet-valid pair was not replaced: %r" % st)
check_pair(out)

# ---- (3) a jump forward while the daemon sleeps ----------------------------------------------
env = Env(validity="1h", hook=False)
offset = os.path.join(env.tmp, "faketime")
with open(offset, "w") as f:
    f.write("+0\n")
agent = env.start(faked(offset_file=offset))
st = wait_for(lambda: (env.state() or {}).get("generation") == 1 and env.state(), 60,
              "the first certificate")
out = os.path.join(env.tmp, "out", "client")
before = snapshot(out)
check(st["next_renewal"] > time.time() + 600, "renewal too soon to prove anything: %r" % st)
wake0 = env.metric("mskpki_agent_wakeups_total")
with open(offset, "w") as f:
    f.write("+2h\n")  # past notAfter (1 hour)
time.sleep(3)
check(env.metric("mskpki_agent_wakeups_total") == wake0 and snapshot(out) == before,
      "the agent woke without a cancel: the test cannot tell the re-plan apart")
agent.signal(signal.SIGUSR2)
st = wait_for(lambda: (env.state() or {}).get("generation") == 2 and env.state(), 60,
              "the rotation after the clock jump")
check(st["ready"] is True and st["last_result"] == "success", "state after the jump: %r" % st)
check("event=clock.changed" in agent.text(), "no clock.changed line")
check_pair(out)
agent.stop()

# ---- (4) the re-arm itself cancelled ----------------------------------------------------------
env4 = Env(validity="1h", hook=False)
agent = env4.start({"MSKPKI_TEST_TIMER_CANCELED": "3"})
st = wait_for(lambda: (env4.state() or {}).get("generation") == 1 and env4.state(), 60,
              "the first certificate with cancelled re-arms")
check("event=clock.changed" in agent.text(), "no clock.changed for a cancelled re-arm")
check("agent.timer_failed" not in agent.text(), "a cancelled re-arm stopped the agent")
check(env4.scrape("/healthz")[0] == 200, "the agent does not answer after cancelled re-arms")
agent.alive_or_fail()
agent.stop()
done("clock_faults")
