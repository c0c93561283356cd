#!/usr/bin/env python3
"""(5) An idle agent does not wake up: with a long validity, mskpki_agent_wakeups_total stays the
same across an idle interval; a signal does wake it (so the counter is live)."""
import signal
import time

from agentlib import Env, check, done, wait_for

env = Env(validity="30d")
agent = env.start()
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")
w1 = env.metric("mskpki_agent_wakeups_total")
time.sleep(3)
w2 = env.metric("mskpki_agent_wakeups_total")
check(w1 is not None and w1 == w2, "wake-ups moved while idle: %s -> %s" % (w1, w2))

# A signal is a wake-up: the counter is not stuck.
agent.signal(signal.SIGUSR1)
wait_for(lambda: (env.metric("mskpki_agent_wakeups_total") or 0) > w2, 30, "a counted wake-up")
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2, 30, "the forced renewal")
w3 = env.metric("mskpki_agent_wakeups_total")
time.sleep(3)
check(env.metric("mskpki_agent_wakeups_total") == w3, "wake-ups moved while idle after renewal")
agent.stop()
done("idle")
