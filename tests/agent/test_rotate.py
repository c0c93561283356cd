#!/usr/bin/env python3
"""(1) With a local CA and a 60 s validity, the running agent rotates before expiry: a second
generation appears, the hook ran for each, files and modes are right, openssl accepts the
certificate for clientAuth, and a live scrape passes promtool and shows the rotations."""
import os
import stat
import subprocess

from agentlib import Env, check, done, openssl_verify_client, serial_of, wait_for

env = Env(validity="60s")
agent = env.start()

# First generation at start-up (the certificate was missing).
st = wait_for(lambda: (env.state() or {}).get("generation", 0) >= 1 and env.state(), 60,
              "the first generation")
check(st["ready"] is True and st["last_result"] == "success", "state after start: %r" % st)
check(st["ca"] == "local" and st["cert_path"] == env.out("client"), "state fields: %r" % st)
first_serial = serial_of(env.out("client"))
first_not_after = st["not_after"]
check(st["next_renewal"] < first_not_after, "renewal planned after expiry: %r" % st)

# The rotation before expiry (renewal at 2/3 of 60 s minus jitter), bounded wait.
st = wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2 and env.state(), 90,
              "a second generation")
check(st["last_result"] == "success" and st["consecutive_failures"] == 0, "state: %r" % st)
check(st["last_success"] <= first_not_after, "rotated only after expiry: %r" % st)
second_serial = serial_of(env.out("client"))
check(second_serial != first_serial, "the serial did not change across the rotation")

# The hook ran after each rotation, with the documented environment.
lines = wait_for(lambda: open(env.hook_log).read().splitlines() if os.path.exists(env.hook_log)
                 and len(open(env.hook_log).read().splitlines()) >= 2 else None, 30,
                 "two hook runs")
name, path, not_after = lines[0].split()
check(name == "client" and path == env.out("client") and int(not_after) == first_not_after,
      "hook environment: %r" % lines[0])

# Files and modes: stable paths, key 0600, certificates 0644.
for f, mode in (("client.key", 0o600), ("client.crt", 0o644), ("ca.crt", 0o644),
                ("fullchain.pem", 0o644)):
    p = env.out("client", f)
    check(os.path.islink(p), "%s is not the stable symlink" % p)
    m = stat.S_IMODE(os.stat(p).st_mode)
    check(m == mode, "%s has mode %o, expected %o" % (p, m, mode))
openssl_verify_client(env)
mod = subprocess.run(["openssl", "x509", "-in", env.out("client"), "-noout", "-pubkey"],
                     capture_output=True, text=True, check=True).stdout
kmod = subprocess.run(["openssl", "pkey", "-in", env.out("client", "client.key"), "-pubout"],
                      capture_output=True, text=True, check=True).stdout
check(mod == kmod, "key and certificate do not match")

# A live scrape passes promtool and shows the rotations.
status, text = env.scrape()
check(status == 200, "scrape status %s" % status)
r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
check(r.returncode == 0, "promtool check metrics: %s%s" % (r.stdout, r.stderr))
from agentlib import parse_metric  # noqa: E402
check(parse_metric(text, "mskpki_rotations_total", {"name": "client", "result": "success"}) >= 2,
      "rotations_total success < 2")
check(parse_metric(text, "mskpki_certificates_issued_total", {"name": "client"}) >= 2,
      "issued_total < 2")
check(parse_metric(text, "mskpki_certificate_ready", {"name": "client"}) == 1, "not ready")
check(parse_metric(text, "mskpki_ca_requests_total", {"ca": "local", "code": "ok"}) is not None,
      "no CA request counter")
check(parse_metric(text, "mskpki_rotation_duration_seconds_count", {"name": "client"}) >= 2,
      "duration histogram count < 2")
check(parse_metric(text, "mskpki_certificate_info", {"name": "client",
                                                     "serial": second_serial.split("=")[1]})
      == 1 or parse_metric(text, "mskpki_certificate_info", {"name": "client"}) == 1,
      "certificate_info missing")
check(parse_metric(text, "mskpki_agent_wakeups_total") >= 1, "no wake-ups counted")
check(env.scrape("/healthz")[0] == 200, "healthz not 200 while ready")
check(env.scrape("/nope")[0] == 404, "unknown path is not 404")
agent.stop()
done("rotate")
