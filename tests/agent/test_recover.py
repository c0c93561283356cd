#!/usr/bin/env python3
"""Start-up recovery and side work: a corrupt output file and a corrupt state file are reported
(log + mskpki_store_corrupt_total) and replaced; a failing hook is reported, retried, and the new
certificate stays; with revoke_replaced the replaced certificate is revoked after the grace."""
import json
import os
import signal
import subprocess
import time

from agentlib import Env, check, done, openssl_verify_client, serial_of, wait_for

env = Env(validity="1h", retry_min="1s", retry_max="2s",
          cert_extra='revoke_replaced = true; revoke_grace = "1h";')
hook_fail = os.path.join(env.tmp, "hook-fail")
env.hook_extra = "; test ! -e %s" % hook_fail
env.write_config()

# ---- a failing hook: reported, retried, the certificate stays ------------------------------
open(hook_fail, "w").close()
agent = env.start()
wait_for(lambda: (env.metric("mskpki_hook_failures_total", {"name": "client"}) or 0) >= 2, 30,
         "the hook to fail and be retried")
st = env.state()
check(st["generation"] == 1 and st["ready"] is True and st["last_result"] == "success",
      "a hook failure disturbed the certificate: %r" % st)
check("event=hook.failure name=client" in agent.text(), "no hook.failure line")
os.unlink(hook_fail)
wait_for(lambda: "event=hook.success name=client" in agent.text(), 30, "the hook retry to pass")
failures = env.metric("mskpki_hook_failures_total", {"name": "client"})
check(env.state()["generation"] == 1, "hook retries caused a rotation")

# ---- revoke_replaced: kept across a restart, then the old certificate ends up on the CRL -----
old_serial = serial_of(env.out("client")).split("=")[1]
agent.signal(signal.SIGUSR1)
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2, 30, "the forced rotation")
revoke_file = os.path.join(env.state_dir, "client.revoke.json")
wait_for(lambda: os.path.exists(revoke_file), 30, "the pending revocation record")
check(env.metric("mskpki_hook_failures_total", {"name": "client"}) == failures,
      "the hook failed after it was fixed")
agent.stop()
rec = json.load(open(revoke_file))
check(len(rec["revocations"]) == 1 and rec["revocations"][0]["at"] > time.time() + 3000,
      "revocation record: %r" % rec)
r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=rec["revocations"][0]["cert"],
                   capture_output=True, text=True)
check(r.stdout.strip() == "serial=" + old_serial, "recorded the wrong certificate: %r" % r.stdout)
# As if the grace period had passed while the agent was down.
rec["revocations"][0]["at"] = 1
with open(revoke_file, "w") as f:
    json.dump(rec, f)
agent = env.start()
wait_for(lambda: "event=revoke.success name=client" in agent.text(), 30, "the revocation")
check("event=revoke.restored name=client pending=1" in agent.text(), "revocation not restored")
crl = subprocess.run(["openssl", "crl", "-in", os.path.join(env.ca_dir, "crl.pem"), "-noout",
                      "-text"], capture_output=True, text=True)
check(crl.returncode == 0 and old_serial in crl.stdout.replace(":", "").upper(),
      "replaced serial %s not on the CRL:\n%s" % (old_serial, crl.stdout))
wait_for(lambda: not os.path.exists(revoke_file), 10, "the revocation record to go")
check(env.state()["generation"] == 2, "the restart rotated a valid certificate")
agent.stop()

# ---- corrupt files at start-up -------------------------------------------------------------
gen_cert = os.path.realpath(env.out("client"))
os.chmod(gen_cert, 0o644)
with open(gen_cert, "w") as f:
    f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
with open(os.path.join(env.state_dir, "client.json"), "w") as f:
    f.write("{ truncated")
agent = env.start()
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 3, 30,
         "a fresh generation replacing the corrupt one")
log = agent.text()
check("event=store.corrupt" in log and "event=state.corrupt" in log,
      "corruption not reported in the log:\n" + log)
check((env.metric("mskpki_store_corrupt_total", {"name": "client"}) or 0) >= 2,
      "corruption not counted")
openssl_verify_client(env)
check(env.scrape("/healthz")[0] == 200, "not healthy after recovery")
agent.stop()
done("recover")
