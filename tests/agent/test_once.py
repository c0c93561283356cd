#!/usr/bin/env python3
"""(4) --once renews what is due: a missing certificate, then an expired one; a valid one is left
alone; a CA failure exits 1 and keeps the old pair.  --renew forces one name; an unknown name
exits 2."""
import os
import subprocess

from agentlib import Env, check, done, faketime_env, openssl_verify_client, serial_of

# Expiry is reached under libfaketime rather than waited out, so the lifetime can be long enough
# for a loaded machine (the ASan build, two cores): --once exits 1 when the result is not ready.
env = Env(validity="1h", hook=True)
# A PKCS#12 keystore whose password file is re-read at every rotation.
p12pass = os.path.join(env.tmp, "p12.pass")
with open(os.open(p12pass, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
    f.write("first-password\n")
env.output_extra = ('pkcs12 = "client.p12"; pkcs12_password_file = "%s";' % p12pass)
env.write_config()


def p12_opens(password):
    r = subprocess.run(["openssl", "pkcs12", "-in", env.out("client", "client.p12"), "-noout",
                        "-passin", "pass:" + password], capture_output=True, text=True)
    return r.returncode == 0


r = env.run("--once")
check(r.returncode == 0, "--once on a missing certificate: %d\n%s" % (r.returncode, r.stderr))
st = env.state()
check(st["generation"] == 1 and st["last_result"] == "success", "state: %r" % st)
first = serial_of(env.out("client"))

# Two hours on, it has expired, and --once renews it.
r = env.run("--once", extra_env=faketime_env("+2h"))
check(r.returncode == 0, "--once on an expired certificate: %d\n%s" % (r.returncode, r.stderr))
st = env.state()
check(st["generation"] == 2 and st["ready"] is True, "expired cert not renewed: %r" % st)
check(serial_of(env.out("client")) != first, "serial unchanged after --once")
check(len(open(env.hook_log).read().splitlines()) == 2, "hook did not run for each issuance")

check(p12_opens("first-password") and not p12_opens("second-password"), "PKCS#12 password")

# A long-lived certificate that is not due is left alone; a changed PKCS#12 password is used by
# the next rotation without a restart or reload.
env.validity = "1h"
env.write_config()
with open(p12pass, "w") as f:
    f.write("second-password\n")
r = env.run("--renew", "client")
check(r.returncode == 0, "--renew: %d\n%s" % (r.returncode, r.stderr))
check(env.state()["generation"] == 3, "--renew did not write a generation")
check(p12_opens("second-password") and not p12_opens("first-password"),
      "the new PKCS#12 password file was not re-read")
r = env.run("--once")
check(r.returncode == 0 and env.state()["generation"] == 3,
      "--once renewed a certificate that was not due: %r" % env.state())
check("result=not-due" in r.stderr, "no not-due result line:\n" + r.stderr)

# CA failure: exit 1, old pair kept.
open(env.fail_file, "w").close()
before = open(env.out("client"), "rb").read()
r = env.run("--renew", "client")
check(r.returncode == 1, "--renew during a CA outage exited %d" % r.returncode)
check(open(env.out("client"), "rb").read() == before, "certificate changed on failure")
check(env.state()["last_result"] == "failure", "failure not recorded in the state file")
openssl_verify_client(env)
os.unlink(env.fail_file)

r = env.run("--renew", "nosuch")
check(r.returncode == 2 and "nosuch" in r.stderr, "--renew unknown: %d %s" % (r.returncode,
                                                                             r.stderr))
done("once")
