#!/usr/bin/env python3
"""(3) SIGHUP with a bad config keeps the agent running on the old one (metrics still served, the
log names the error); SIGHUP with a good config applies it."""
import signal

from agentlib import Env, candidate_port, check, done, wait_for

env = Env(validity="1h")
agent = env.start()
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")
good = open(env.conf).read()

# A config with an error at a known line: the reload is refused and logged with the error.
env.write_config(good + "\nbogus_setting = 1;\n")
agent.signal(signal.SIGHUP)
wait_for(lambda: "event=config.reload_failed" in agent.text(), 30, "the reload failure line")
log = agent.text()
line = [l for l in log.splitlines() if "config.reload_failed" in l and "msg=" in l]
check(line and "bogus_setting" in line[0] and env.conf in line[0],
      "the failure line does not name the file and setting:\n" + log)
check(env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, "metrics lost after HUP")
check(env.scrape("/healthz")[0] == 200, "healthz not 200 after a refused reload")
agent.alive_or_fail()

# A good new config (a second certificate) is applied on the next SIGHUP.
env.write_config(names=["client", "second"])
agent.signal(signal.SIGHUP)
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "second"}) == 1, 60,
         "the second certificate from the reloaded config")
check(env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, "first cert lost")
check("event=config.reloaded" in agent.text(), "no config.reloaded line")

# A new metrics.listen moves the server.  The new port is only a candidate: when another
# process took it first the reload logs metrics.listen_failed and the test tries another.
old_port = env.port
for attempt in range(5):
    env.port = candidate_port()
    env.write_config(names=["client", "second"])
    failed_before = agent.text().count("event=metrics.listen_failed")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1 or
             agent.text().count("event=metrics.listen_failed") > failed_before, 30,
             "metrics on the new port")
    if agent.text().count("event=metrics.listen_failed") == failed_before:
        break
env.port, new_port = old_port, env.port
check(env.scrape()[0] is None, "the old metrics port still answers")
env.port = new_port
agent.stop()
done("sighup")
