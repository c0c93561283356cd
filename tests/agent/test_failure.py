#!/usr/bin/env python3
"""(2) A CA outage (the local CA's test switch MSKPKI_TEST_CA_FAIL) keeps the old pair, raises
the failure metrics and state, and the agent recovers when the CA comes back.  Also: started
during an outage with no certificate, the agent is not ready and keeps retrying."""
import os
import signal

from agentlib import Env, check, done, openssl_verify_client, serial_of, wait_for


def touch(p):
    open(p, "w").close()


env = Env(validity="1h", retry_min="1s", retry_max="2s")

# Start during an outage: nothing to serve, not ready, failures counted, retried.
touch(env.fail_file)
agent = env.start()
wait_for(lambda: (env.metric("mskpki_rotations_total", {"name": "client", "result": "failure"})
                  or 0) >= 2, 60, "two failed attempts while the CA is down")
check(env.scrape("/healthz")[0] == 503, "healthz must be 503 without a certificate")
check(env.metric("mskpki_certificate_ready", {"name": "client"}) == 0, "ready without a cert")
st = env.state()
check(st["ready"] is False and st["last_result"] == "failure" and st["last_error"],
      "state during the outage: %r" % st)
check(not os.path.exists(env.out("client")), "a certificate appeared during the outage")

# The CA comes back: the certificate is issued.
os.unlink(env.fail_file)
st = wait_for(lambda: (env.state() or {}).get("generation", 0) >= 1 and env.state(), 30,
              "issuance after the outage")
check(st["ready"] is True and st["consecutive_failures"] == 0, "state after recovery: %r" % st)
old_serial = serial_of(env.out("client"))
old_bytes = open(env.out("client"), "rb").read()
old_key = open(env.out("client", "client.key"), "rb").read()
failures_before = env.metric("mskpki_rotations_total", {"name": "client", "result": "failure"})

# Outage while a valid pair is in place: a forced renewal fails, the old pair stays.
touch(env.fail_file)
agent.signal(signal.SIGUSR1)
wait_for(lambda: (env.metric("mskpki_rotation_consecutive_failures", {"name": "client"}) or 0)
         >= 2, 30, "consecutive failures to rise")
check(env.metric("mskpki_rotations_total", {"name": "client", "result": "failure"})
      > failures_before, "failure counter did not move")
check(open(env.out("client"), "rb").read() == old_bytes, "certificate changed during outage")
check(open(env.out("client", "client.key"), "rb").read() == old_key, "key changed during outage")
openssl_verify_client(env)
check(env.scrape("/healthz")[0] == 200, "healthz must stay 200 while the old pair is valid")
st = env.state()
check(st["last_result"] == "failure" and st["last_error"] and st["generation"] == 1,
      "state during the second outage: %r" % st)
log = agent.text()
check("event=rotation.failure name=client code=" in log, "no key=value failure line:\n" + log)

# Recovery: a new generation, counters reset.
os.unlink(env.fail_file)
st = wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2 and env.state(), 30,
              "recovery after the second outage")
check(st["consecutive_failures"] == 0 and st["last_result"] == "success" and
      st["last_error"] is None, "state after the second recovery: %r" % st)
check(serial_of(env.out("client")) != old_serial, "serial unchanged after recovery")
check(env.metric("mskpki_rotation_consecutive_failures", {"name": "client"}) == 0,
      "consecutive failures not reset")
openssl_verify_client(env)
agent.stop()
done("failure")
